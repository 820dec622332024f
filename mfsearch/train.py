"""``python -m mfsearch.train``: train one model from the Hydra config tree in ``conf/``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mfsearch.config import CONF_DIR, load_config


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    """Validates the config, trains, and returns the best ``optimized_metric``."""
    from mfsearch.training import run_training

    config = load_config(cfg)
    return run_training(config).metrics[config.optimized_metric]


if __name__ == "__main__":
    main()
