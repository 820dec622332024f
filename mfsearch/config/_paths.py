from __future__ import annotations

from pathlib import Path

#: The Hydra config tree (``conf/`` beside the package), as an absolute path, so that the
#: apps find it however they are started (``python -m``, the ``mfsearch`` script, tests).
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")
