"""Pretrained weights: where they live, how they are read, and strict, explained loading."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mfsearch.config import ConfigError

#: How many keys of each kind a mismatch error lists before summarising the rest.
_LISTED = 8


class StateDictMismatchError(ValueError):
    """A saved state does not fit a module; the message names the keys and the sizes."""


@dataclass(frozen=True)
class WeightFile:
    """A published ImageNet checkpoint, looked up by file name in the torch hub cache.

    Args:
        filename: The file name torch hub caches it under.
        url: Where the file is normally downloaded from (named in errors; never fetched).
    """

    filename: str
    url: str

    def __post_init__(self) -> None:
        if not self.filename or "/" in self.filename:
            raise ValueError(f"filename must be a bare file name, but got {self.filename=}")

    @property
    def path(self) -> Path:
        """The cached file's path: ``<torch hub dir>/checkpoints/<filename>``."""
        return hub_checkpoint_dir() / self.filename


def hub_checkpoint_dir() -> Path:
    """Torch hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``, by default under
    ``~/.cache/torch``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def resolve_pretrained(setting: str, backbone: str, imagenet: WeightFile | None) -> Path | None:
    """The weight file that ``model.pretrained=setting`` selects, checked to exist.

    Args:
        setting: ``none``, ``imagenet`` or a path to a local file.
        backbone: The backbone's name, for error messages.
        imagenet: The backbone's published ImageNet file, if it has one.

    Returns:
        None for ``none``, else the path of an existing file.

    Raises:
        ConfigError: The setting names a file that is not there, or ``imagenet`` for a
            backbone without published weights. Nothing is downloaded.
    """
    if setting == "none":
        return None
    if setting == "imagenet":
        if imagenet is None:
            raise ConfigError(
                f"model.pretrained=imagenet is invalid: backbone {backbone!r} has no published "
                "ImageNet weights. Use model.pretrained=none or a path to a weight file."
            )
        path = imagenet.path
        if not path.is_file():
            raise ConfigError(
                f"model.pretrained=imagenet: the ImageNet weights of {backbone!r} are missing. "
                f"Expected the file {imagenet.filename} at {path} (the torch hub cache, "
                f"$TORCH_HOME/hub/checkpoints). mfsearch never downloads at run time: fetch it "
                f"from {imagenet.url} and put it there, or set model.pretrained=<path to the "
                "file> or model.pretrained=none."
            )
        return path
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model.pretrained={setting!r} is invalid: no such file. Give the path of an "
            f"existing weight file for {backbone!r}, or use model.pretrained=imagenet or none."
        )
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Reads a state dict with ``torch.load(weights_only=True)``; bad files name themselves."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (torch raises many kinds)
        raise ValueError(f"Weight file {path} cannot be read as a state dict: {exc}") from exc
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(
            f"Weight file {path} is not a state dict (a mapping of names to tensors); "
            "save one with torch.save(module.state_dict(), path)."
        )
    return dict(state)


def adapt_published(state: Mapping[str, torch.Tensor], module: nn.Module,
                    ) -> dict[str, torch.Tensor]:
    """Fits a published checkpoint's conventions to ``module`` without changing any values.

    Leading dimensions of 1 are squeezed where the module's tensor has fewer dimensions
    (the BN-Inception file stores BatchNorm tensors as (1, C)), and BatchNorm step counters
    that old files lack are filled with zero. Keys are neither dropped nor renamed.
    """
    expected = module.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        target = expected.get(key)
        if target is not None:
            while tensor.ndim > target.ndim and tensor.shape[0] == 1:
                tensor = tensor.squeeze(0)
        out[key] = tensor
    for key, target in expected.items():
        if key.endswith("num_batches_tracked") and key not in out:
            out[key] = torch.zeros_like(target)
    return out


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    more = len(items) - _LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def state_dict_mismatches(state: Mapping[str, torch.Tensor], module: nn.Module,
                          optional_prefixes: Sequence[str] = ()) -> list[str]:
    """Describes every way ``state`` fails to fit ``module`` (empty when it fits).

    Keys under ``optional_prefixes`` may be missing from ``state``.
    """
    expected = module.state_dict()
    wrong_size = [
        f"{key}: saved {tuple(state[key].shape)} vs model {tuple(target.shape)}"
        for key, target in expected.items()
        if key in state and tuple(state[key].shape) != tuple(target.shape)
    ]
    missing = [k for k in expected if k not in state
               and not any(k.startswith(p) for p in optional_prefixes)]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if wrong_size:
        problems.append(f"{len(wrong_size)} keys differ in size ({_listing(wrong_size)})")
    if missing:
        problems.append(f"{len(missing)} keys are missing from it ({_listing(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} keys are not in the model ({_listing(unexpected)})")
    return problems


def load_state_dict_checked(module: nn.Module, state: Mapping[str, torch.Tensor], source: str,
                            what: str, optional_prefixes: Sequence[str] = ()) -> None:
    """Loads ``state`` into ``module``, or raises an error that lists every mismatch.

    Args:
        module: Where the tensors go.
        state: The saved tensors.
        source: What they come from, e.g. ``"Checkpoint runs/x/best.pt"``.
        what: What they are loaded into, e.g. ``"model resnet50 (embedding 512)"``.
        optional_prefixes: Keys under these prefixes may be missing (they keep their values).

    Raises:
        StateDictMismatchError: Keys or sizes differ; the message names them.
    """
    problems = state_dict_mismatches(state, module, optional_prefixes)
    if problems:
        raise StateDictMismatchError(
            f"{source} does not fit the {what}: {'; '.join(problems)}. It was probably saved "
            "for another model or dataset (or other model settings); use a matching file or "
            "the settings it was saved with."
        )
    module.load_state_dict(dict(state), strict=not optional_prefixes)
