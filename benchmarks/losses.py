"""Mean-field losses at benchmark scale: the fast implementation against the dense formula.

For MF-CWMS and MF-Contrastive at the class counts of CUB (100), Cars (98), In-Shop (3,997)
and SOP (11,318), with B = 180 embeddings of d = 512 in float32 on the CPU, it measures
one forward + backward step (gradients for the embeddings and the mean fields) of
``mfsearch.losses`` and of the naive dense transcription kept beside the tests
(``tests/reference_losses.py``), at the losses' published defaults:

- ``ms_fast`` / ``ms_dense``: the fastest of several steps (a single one for the slow dense
  In-Shop and SOP cases, which take seconds to minutes), on one CPU thread by default so that other work on the machine disturbs the
  figures less; ``speedup = ms_dense / ms_fast``.
- ``peak_mb_fast`` / ``peak_mb_dense``: peak memory of the step's own tensors, measured as
  the growth of the process's peak resident set (``VmHWM``, reset through
  ``/proc/self/clear_refs`` before each step) over its resident set before the step. It
  runs in a child process started with ``MALLOC_MMAP_THRESHOLD_=65536``, so that every
  tensor is its own mapping that goes back to the system when freed: the resident set then
  follows the live tensors. Needs Linux. ``memory_ratio = peak_mb_dense / peak_mb_fast``.
- ``max_rel_diff``: the largest difference between the two, in the loss and in each
  gradient, relative to the largest magnitude of the dense value.

Writes ``benchmarks/results/losses.json``. Run: ``python benchmarks/losses.py``
(``make bench`` runs it with the other benchmarks).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the dense references live beside the tests

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from mfsearch.losses import MeanFieldClassWiseMultiSimilarity, MeanFieldContrastive  # noqa: E402
from tests.reference_losses import dense_mf_contrastive, dense_mf_cwms  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "losses.json"
BATCH, DIM = 180, 512
SCALES = {"cub": 100, "cars": 98, "inshop": 3997, "sop": 11318}
LOSSES = {
    "mf_cwms": (MeanFieldClassWiseMultiSimilarity, dense_mf_cwms,
                {"alpha": 0.01, "beta": 80.0, "mrg": 0.8, "mf_reg": 0.0}),
    "mf_contrastive": (MeanFieldContrastive, dense_mf_contrastive,
                       {"pos_margin": 0.02, "neg_margin": 0.3, "mf_reg": 0.0}),
}
DENSE_REPEAT_BELOW = 1000
MMAP_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}

Step = Callable[[], tuple[torch.Tensor, ...]]


def make_steps(loss: str, num_classes: int, seed: int = 0) -> tuple[Step, Step]:
    """The fast and the dense forward+backward step on the same random inputs."""
    cls, dense, params = LOSSES[loss]
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(BATCH, DIM, generator=g), dim=1).requires_grad_(True)
    labels = torch.randint(0, num_classes, (BATCH,), generator=g)
    module = cls(num_classes, DIM, **params)
    with torch.no_grad():
        module.mean_fields.copy_(torch.randn(DIM, num_classes, generator=g))
    fields = module.mean_fields

    def fast() -> tuple[torch.Tensor, ...]:
        value = module(x, labels)
        return (value.detach(), *torch.autograd.grad(value, [x, fields]))

    def reference() -> tuple[torch.Tensor, ...]:
        value = dense(x, labels, fields, **params)
        return (value.detach(), *torch.autograd.grad(value, [x, fields]))

    return fast, reference


def best_ms(step: Step, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def max_rel_diff(fast: tuple[torch.Tensor, ...], dense: tuple[torch.Tensor, ...]) -> float:
    return max(float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))
               for a, b in zip(fast, dense, strict=True))


def _status_mb(key: str) -> float:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"/proc/self/status has no {key}: peak memory needs Linux")
    return int(match.group(1)) / 1024


def peak_mb(step: Step) -> float:
    """Peak resident-set growth (MB) during ``step`` (see the module docstring)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current VmRSS
    before = _status_mb("VmRSS")
    result = step()
    peak = _status_mb("VmHWM") - before
    del result
    return peak


def measure_memory() -> dict[str, float]:
    """Child process: peak MB of every case, keyed ``loss/num_classes/impl``."""
    peaks = {}
    for loss in LOSSES:  # load every kernel once, on a small problem
        for step in make_steps(loss, 50):
            step()
    for loss in LOSSES:
        for num_classes in SCALES.values():
            fast, dense = make_steps(loss, num_classes)
            peaks[f"{loss}/{num_classes}/fast"] = peak_mb(fast)
            peaks[f"{loss}/{num_classes}/dense"] = peak_mb(dense)
            del fast, dense
    return peaks


def memory_in_child() -> dict[str, float]:
    env = {**os.environ, **MMAP_ENV}
    out = subprocess.run([sys.executable, __file__, "--memory-child"], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=20,
                        help="timed steps per case (the dense In-Shop and SOP steps run once)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1:
        parser.error(f"--threads and --repeats must be >= 1, but got {args.threads=} "
                     f"{args.repeats=}")
    torch.set_num_threads(args.threads)
    if args.memory_child:
        print(json.dumps(measure_memory()))
        return

    print("measuring peak memory in a child process ...", flush=True)
    peaks = memory_in_child()
    rows = []
    cases = [(loss, c) for loss in LOSSES for c in SCALES.values()]
    for loss, num_classes in tqdm(cases, desc="losses"):
        fast, dense = make_steps(loss, num_classes)
        start = time.perf_counter()
        dense_out = dense()
        ms_dense = (time.perf_counter() - start) * 1000
        diff = max_rel_diff(fast(), dense_out)  # also warms the fast step up
        del dense_out
        ms_fast = best_ms(fast, args.repeats)
        if num_classes < DENSE_REPEAT_BELOW:  # the slow dense cases are timed once
            ms_dense = min(ms_dense, best_ms(dense, args.repeats))
        mb_fast = peaks[f"{loss}/{num_classes}/fast"]
        mb_dense = peaks[f"{loss}/{num_classes}/dense"]
        rows.append({
            "loss": loss,
            "num_classes": num_classes,
            "ms_fast": round(ms_fast, 3),
            "ms_dense": round(ms_dense, 3),
            "speedup": round(ms_dense / ms_fast, 2),
            "peak_mb_fast": round(mb_fast, 2),
            "peak_mb_dense": round(mb_dense, 2),
            "memory_ratio": round(mb_dense / max(mb_fast, 1e-3), 2),
            "max_rel_diff": float(f"{diff:.3g}"),
        })
        del fast, dense
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    header = f"{'loss':<15} {'C':>6} {'ms fast':>9} {'ms dense':>10} {'speedup':>8} " \
             f"{'MB fast':>8} {'MB dense':>9} {'mem ratio':>9} {'max rel diff':>12}"
    print(header)
    for r in rows:
        print(f"{r['loss']:<15} {r['num_classes']:>6} {r['ms_fast']:>9.1f} {r['ms_dense']:>10.1f} "
              f"{r['speedup']:>8.1f} {r['peak_mb_fast']:>8.1f} {r['peak_mb_dense']:>9.1f} "
              f"{r['memory_ratio']:>9.1f} {r['max_rel_diff']:>12.2g}")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
