"""Benchmark: the retrieval evaluator vs a bare faiss search vs pytorch-metric-learning.

At each size, clustered synthetic 512-d embeddings with SOP-like class sizes (2 to 12
images, about 5.3 on average) are evaluated by

- the evaluator with SOP's metric set (Recall@1, 10, 100, 1000, Precision@1, R-Precision,
  MAP@R);
- a bare exact faiss search (IndexFlatIP) with k = 1001, the search the evaluator cannot
  avoid (the baseline of ``time_ratio``);
- pytorch-metric-learning's AccuracyCalculator restricted to Precision@1, R-Precision and
  MAP@R with k = "max_bin_count", only where its estimated memory fits the free memory.

Each measurement runs in a fresh Python process that loads the embeddings from disk, so
its peak resident memory (``ru_maxrss``) is that of one evaluation process: imports,
embeddings and the evaluation. Seconds exclude imports and loading. The evaluator and
faiss run alternately ``--repeats`` times; ``seconds`` and ``faiss_seconds`` are medians
and ``time_ratio`` is the median of the paired ratios, which is robust to a machine whose
load changes during the run. Writes
``benchmarks/results/evaluation.json``.

Usage: ``python benchmarks/evaluation.py [--sizes 10000 30000 60502] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's mfsearch, even if another one is installed
RESULTS = ROOT / "benchmarks" / "results" / "evaluation.json"
SOP_KS = [1, 10, 100, 1000]
FAISS_K = 1001
PML_METRICS = ("precision_at_1", "r_precision", "mean_average_precision_at_r")
#: Peak memory per embedding of pml's restricted AccuracyCalculator, measured at 60,000 x
#: 512 (7.6 GB); used to skip it where it would not fit.
PML_BYTES_PER_EMBEDDING = 7.6e9 / 60_000


def sop_like_labels(n: int, rng: np.random.Generator) -> np.ndarray:
    """Labels of ``n`` samples in classes of 2 to 12 samples (mean about 5.3, as SOP)."""
    sizes_allowed = np.arange(2, 13)
    weights = np.exp(-sizes_allowed / 5.5)
    sizes = rng.choice(sizes_allowed, size=n, p=weights / weights.sum())
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    sizes[-1] -= sizes.sum() - n
    if sizes[-1] < 2:  # fold a too-small last class into the one before it
        sizes[-2] += sizes[-1]
        sizes = sizes[:-1]
    return rng.permutation(np.repeat(np.arange(len(sizes)), sizes))


def clustered_embeddings(labels: np.ndarray, dim: int, noise: float,
                         rng: np.random.Generator) -> np.ndarray:
    """Unit-norm float32 embeddings: a random centre per class plus Gaussian noise."""
    centres = rng.standard_normal((int(labels.max()) + 1, dim), dtype=np.float32)
    x = centres[labels]
    x += noise * rng.standard_normal(x.shape, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker(method: str, data: Path) -> dict:
    """Runs one measurement in this (fresh) process and returns its figures."""
    if method == "evaluator":
        from mfsearch.evaluation import RetrievalEvaluator
    elif method == "faiss":
        import faiss
    else:
        import faiss
        import torch
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
        from pytorch_metric_learning.utils.inference import FaissKNN
    x = np.load(data / "x.npy")
    y = np.load(data / "y.npy")
    metrics: dict[str, float] = {}
    cpu_start = _cpu_seconds()
    start = time.perf_counter()
    if method == "evaluator":
        metrics = RetrievalEvaluator(SOP_KS, device="cpu").evaluate(x, y)
    elif method == "faiss":
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
        index.search(x, FAISS_K)
    else:
        calc = AccuracyCalculator(include=PML_METRICS, k="max_bin_count",
                                  knn_func=FaissKNN(index_init_fn=faiss.IndexFlatIP))
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        got = calc.get_accuracy(xt, yt, xt, yt, ref_includes_query=True)
        metrics = {"precision_at_1": got["precision_at_1"], "r_precision": got["r_precision"],
                   "map_at_r": got["mean_average_precision_at_r"]}
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu_start,
            "peak_rss_mb": _peak_rss_mb(),
            "metrics": {k: float(v) for k, v in metrics.items()}}


def _measure(method: str, data: Path, attempts: int = 2) -> dict:
    """Runs one measurement in a fresh process (again once if it fails, e.g. when a
    neighbour on a shared machine briefly takes the memory)."""
    for attempt in range(1, attempts + 1):
        proc = subprocess.run([sys.executable, __file__, "--worker", method, "--data",
                               str(data)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode == 0:
            return json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"  {method} worker failed (attempt {attempt}, exit {proc.returncode}):\n"
              f"{proc.stderr[-2000:]}", file=sys.stderr, flush=True)
    raise RuntimeError(f"The {method} measurement failed {attempts} times; see above.")


def _available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def _paired_ratio(runs: dict[str, list[dict]], key: str) -> float:
    """Median over the repeats of evaluator / faiss, each pair measured back to back."""
    return statistics.median(e[key] / f[key]
                             for e, f in zip(runs["evaluator"], runs["faiss"], strict=True))


def bench_size(n: int, args: argparse.Namespace, workdir: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    labels = sop_like_labels(n, rng)
    x = clustered_embeddings(labels, args.dim, args.noise, rng)
    data = workdir / f"n{n}"
    data.mkdir()
    np.save(data / "x.npy", x)
    np.save(data / "y.npy", labels)
    del x
    runs: dict[str, list[dict]] = {"evaluator": [], "faiss": []}
    for _ in range(args.repeats):
        for method in runs:
            runs[method].append(_measure(method, data))
            last = runs[method][-1]
            print(f"  n={n} {method}: {last['seconds']:.2f} s, {last['cpu_seconds']:.2f} "
                  f"s CPU, {last['peak_rss_mb']:.0f} MB", flush=True)
    seconds = statistics.median(r["seconds"] for r in runs["evaluator"])
    faiss_seconds = statistics.median(r["seconds"] for r in runs["faiss"])
    metrics = runs["evaluator"][0]["metrics"]
    entry = {
        "n": n,
        "dim": args.dim,
        "num_classes": int(labels.max()) + 1,
        "seconds": round(seconds, 3),
        "faiss_seconds": round(faiss_seconds, 3),
        "time_ratio": round(_paired_ratio(runs, "seconds"), 3),
        "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs["evaluator"]), 3),
        "faiss_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs["faiss"]),
                                   3),
        "cpu_time_ratio": round(_paired_ratio(runs, "cpu_seconds"), 3),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["evaluator"]), 1),
        "faiss_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs["faiss"]), 1),
        "pml_seconds": None,
        "pml_peak_rss_mb": None,
        "pml_max_abs_diff": None,
        "repeats": args.repeats,
        "metrics": {k: round(v, 6) for k, v in metrics.items()},
    }
    need_mb = PML_BYTES_PER_EMBEDDING * n / 2**20
    if not args.no_pml and need_mb < args.pml_memory_fraction * _available_mb():
        pml = _measure("pml", data)
        print(f"  n={n} pml: {pml['seconds']:.2f} s, {pml['peak_rss_mb']:.0f} MB", flush=True)
        entry["pml_seconds"] = round(pml["seconds"], 3)
        entry["pml_peak_rss_mb"] = round(pml["peak_rss_mb"], 1)
        entry["pml_max_abs_diff"] = max(abs(metrics[k] - v) for k, v in pml["metrics"].items())
    else:
        print(f"  n={n} pml: skipped (needs about {need_mb:.0f} MB)", flush=True)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 60_502])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--noise", type=float, default=2.3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pml", action="store_true", help="skip pytorch-metric-learning")
    parser.add_argument("--pml-memory-fraction", type=float, default=0.5,
                        help="run pml only if its estimated peak is below this share of "
                             "the free memory")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", choices=["evaluator", "faiss", "pml"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.data)))
        return
    if args.repeats < 1 or min(args.sizes) <= FAISS_K:
        parser.error(f"need --repeats >= 1 and sizes > {FAISS_K}, but got {args.repeats=}, "
                     f"{args.sizes=}")
    results = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            results.append(bench_size(n, args, Path(tmp)))
            # Written after every size, so a long run that is cut short keeps its sizes.
            args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
