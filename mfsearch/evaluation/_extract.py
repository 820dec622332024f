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

    The model is put in eval mode for the pass and restored to the mode it was in.
    """
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    was_training = model.training
    model.eval()
    chunks: list[np.ndarray] = []
    try:
        with torch.inference_mode():
            for images, _ in tqdm(loader, desc=desc, leave=False, disable=not progress):
                chunks.append(model(images.to(device)).float().cpu().numpy())
    finally:
        model.train(was_training)
    if not chunks:
        raise ValueError(f"Cannot embed an empty dataset ({desc})")
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)
