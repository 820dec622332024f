"""Training-pipeline throughput: the decoded-image cache against the plain PIL pipeline.

Writes a CUB-like folder (``--images`` JPEGs of 500x375 in class folders) to a temporary
directory, builds the CUB dataset from it twice (plain: decode every JPEG with PIL at every
epoch, as the paper's code does; cached: decoded once, resized to the evaluation short side
and stored as uint8), and times one pass of the training transform (RandomResizedCrop 224,
flip, ImageNet normalisation) over the training images in each, alternating the two
``--repeats`` times and keeping each one's best pass. Checks that both produce the same
output statistics and that their evaluation outputs are identical, then writes
``benchmarks/results/data_pipeline.json``.

Run: ``make bench`` or ``python benchmarks/data_pipeline.py [--images 2000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mfsearch.config import DatasetConfig, SplitConfig  # noqa: E402
from mfsearch.data import build_data, build_transforms  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "data_pipeline.json"


def write_cub_like(root: Path, images: int, classes: int, seed: int = 0) -> None:
    """``CUB_200_2011/images/<class>/<n>.jpg``: smooth random 500x375 photos, JPEG quality 90."""
    rng = np.random.default_rng(seed)
    for n in tqdm(range(images), desc="writing JPEGs", leave=False, mininterval=5):
        folder = root / "CUB_200_2011" / "images" / f"{n % classes + 1:03d}.Class_{n % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        width, height = (500, 375) if n % 4 else (375, 500)  # some portrait images
        coarse = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BICUBIC))
        noise = rng.integers(-10, 11, image.shape)
        pixels = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{n:05d}.jpg", quality=90)


def one_pass(dataset: torch.utils.data.Dataset) -> tuple[float, np.ndarray]:
    """Seconds spent reading the samples of ``dataset`` once (the statistics not counted),
    and the per-channel sum, sum of squares and count of the outputs."""
    stats = np.zeros((3, 3))
    seconds = 0.0
    for i in range(len(dataset)):
        started = time.perf_counter()
        image, _ = dataset[i]
        seconds += time.perf_counter() - started
        flat = image.reshape(3, -1).double()
        stats[:, 0] += flat.sum(1).numpy()
        stats[:, 1] += (flat**2).sum(1).numpy()
        stats[:, 2] += flat.shape[1]
    return seconds, stats


def channel_stats(stats: np.ndarray) -> dict[str, list[float]]:
    mean = stats[:, 0] / stats[:, 2]
    std = np.sqrt(stats[:, 1] / stats[:, 2] - mean**2)
    return {"mean": mean.round(4).tolist(), "std": std.round(4).tolist()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)  # like a data-loader worker
    with tempfile.TemporaryDirectory(prefix="mfsearch-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        write_cub_like(root, args.images, args.classes)
        write_s = time.perf_counter() - started

        def config(cache: bool) -> DatasetConfig:
            return DatasetConfig(name="cub", root=str(root), batch_size=32,
                                 cache_dir=str(root / "cache") if cache else None,
                                 split=SplitConfig(val_fraction=0.2, seed=0))

        plain_cfg, cached_cfg = config(False), config(True)
        transforms = build_transforms(plain_cfg, "imagenet")
        plain = build_data(plain_cfg, transforms)
        started = time.perf_counter()
        cached = build_data(cached_cfg, transforms)
        cache_build_s = time.perf_counter() - started
        started = time.perf_counter()
        build_data(cached_cfg, transforms)  # what every later trial pays: open, no rebuild
        cache_open_s = time.perf_counter() - started

        eval_identical = all(
            torch.equal(plain.test.query[i][0], cached.test.query[i][0])
            for i in range(0, len(plain.test), max(len(plain.test) // 50, 1)))
        times: dict[str, list[float]] = {"pil": [], "cached": []}
        stats: dict[str, np.ndarray] = {}
        for repeat in range(args.repeats):
            for name, data in (("pil", plain), ("cached", cached)):
                torch.manual_seed(repeat)
                seconds, sums = one_pass(data.train)
                times[name].append(seconds)
                stats[name] = sums
                print(f"pass {repeat + 1} {name:>6}: {len(data.train) / seconds:8.1f} images/s",
                      flush=True)

    train_images = len(plain.train)
    pil_rate = train_images / min(times["pil"])
    cached_rate = train_images / min(times["cached"])
    pil_stats, cached_stats = channel_stats(stats["pil"]), channel_stats(stats["cached"])
    mean_gap = float(np.max(np.abs(np.subtract(pil_stats["mean"], cached_stats["mean"]))))
    std_ratio = np.divide(cached_stats["std"], pil_stats["std"])
    same_stats = mean_gap < 0.05 and bool(np.all(np.abs(std_ratio - 1) < 0.05))
    result = {
        "cached_images_per_s": round(cached_rate, 1),
        "pil_images_per_s": round(pil_rate, 1),
        "speedup": round(cached_rate / pil_rate, 2),
        "target_speedup": 3.0,
        "meets_target": cached_rate / pil_rate >= 3.0,
        "same_output_statistics": same_stats,
        "eval_outputs_identical": eval_identical,
        "output_statistics": {"pil": pil_stats, "cached": cached_stats,
                              "max_mean_gap": round(mean_gap, 4)},
        "train_images_per_pass": train_images,
        "source_images": args.images,
        "image_size": [500, 375],
        "repeats": args.repeats,
        "seconds_per_pass": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "cache_build_s": round(cache_build_s, 1),
        "cache_open_s": round(cache_open_s, 2),
        "write_jpegs_s": round(write_s, 1),
        "pipeline": "RandomResizedCrop(224) + horizontal flip + ImageNet normalisation, "
                    "one process, one thread",
        "command": "python benchmarks/data_pipeline.py" + (
            f" --images {args.images}" if args.images != 2000 else ""),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("cached_images_per_s", "pil_images_per_s",
                                              "speedup", "same_output_statistics",
                                              "eval_outputs_identical")}))
    return 0 if same_stats and eval_identical else 1


if __name__ == "__main__":
    sys.exit(main())
