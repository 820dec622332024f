"""Embedding extraction: batched, in inference mode, with a progress bar."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm


def extract_embeddings(model: nn.Module, dataset: Dataset, batch_size: int,
                       device: torch.device, num_workers: int = 0, progress: bool = True,
                       desc: str = "embed") -> np.ndarray:
    """Embeds every sample of ``dataset`` and returns a contiguous float32 (n, d) array.

    The model is put in eval mode for the pass; afterwards every submodule gets back the
    train/eval mode it had (so a BatchNorm frozen in eval mode inside a training model
    stays frozen), also when the pass fails.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, but got {batch_size=}")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    n = len(dataset)  # type: ignore[arg-type]
    if n == 0:
        raise ValueError(f"Cannot embed an empty dataset ({desc})")
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    out: np.ndarray | None = None
    start = 0
    try:
        with torch.inference_mode():
            for images, _ in tqdm(loader, desc=desc, leave=False, disable=not progress):
                emb = model(images.to(device)).float().cpu().numpy()
                if out is None:  # written in place: no list of chunks, no second copy
                    out = np.empty((n, emb.shape[1]), dtype=np.float32)
                out[start:start + len(emb)] = emb
                start += len(emb)
    finally:
        for module, training in modes:
            module.training = training
    assert out is not None and start == n
    return out
