"""Top-k selection by magnitude (``_kernels.topk_abs``) on random and structured weights.

IHT projects onto the k largest |w| every iteration, so this selection runs thousands of times
per prune. The previous kernel (Numba ``np.partition`` + ``np.sort`` of the index array) was
fast on random weights and quadratic on the nearly sorted index arrays that trained weights
produce (issue 13: 6.8 s on one 1536 x 384 layer, where numpy takes 2 ms). Cases:

* ``gaussian``: i.i.d. N(0, 1) (what a random benchmark sees);
* ``row-scaled``: rows with magnitudes spread over two decades, as in trained layers;
* ``nearly-sorted``: magnitudes increasing along the flat index, plus 1% noise;
* ``half-zeros``: half the entries exactly zero (a previously pruned stage; many ties).

Anchors in the same run: numpy ``argpartition`` + ``sort`` (the reference), and the previous
Numba kernel. Not a test: prints a table and writes ``benchmarks/results/topk_selection.json``.

    python benchmarks/topk_selection.py                  # 384 x 384 layer, k = p/10 and p/2
    python benchmarks/topk_selection.py --rows 1536      # the issue's 1536 x 384 layer
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numba as nb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sparse_regression import _kernels as K  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "topk_selection.json"


@nb.njit(cache=True, nogil=True)
def previous_topk_abs(v, k):
    """The kernel before issue 13 (kept here as the anchor)."""
    p = v.shape[0]
    if k >= p:
        return np.arange(p)
    a = np.abs(v)
    thr = np.partition(a, p - k)[p - k]
    out = np.empty(k, dtype=np.int64)
    c = 0
    for i in range(p):
        if a[i] > thr:
            out[c] = i
            c += 1
    for i in range(p):
        if c == k:
            break
        if a[i] == thr:
            out[c] = i
            c += 1
    return np.sort(out)


def numpy_topk_abs(v, k):
    return np.sort(np.argpartition(-np.abs(v), k - 1)[:k])


def weights(kind: str, rows: int, cols: int, rng) -> np.ndarray:
    p = rows * cols
    if kind == "gaussian":
        return rng.standard_normal(p)
    if kind == "row-scaled":
        scales = np.logspace(-2, 0, rows)[rng.permutation(rows)]
        return (rng.standard_normal((rows, cols)) * scales[:, None]).ravel()
    if kind == "nearly-sorted":
        return np.linspace(0.01, 1.0, p) * (1 + 0.01 * rng.standard_normal(p))
    if kind == "half-zeros":
        w = rng.standard_normal(p)
        w[rng.random(p) < 0.5] = 0.0
        return w
    raise ValueError(kind)


def best_of(fn, v, k, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(v, k)
        times.append(time.perf_counter() - t)
    return min(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=384)
    ap.add_argument("--cols", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    p = args.rows * args.cols
    small = rng.standard_normal(100)
    previous_topk_abs(small, 10)  # compile outside the timings
    K.topk_abs(small, 10)
    rows = []
    print(f"p = {args.rows} x {args.cols} = {p}; best of {args.repeats} (previous kernel: 1 run)")
    print(f"{'weights':14s} {'k':>8s} {'topk_abs ms':>12s} {'numpy ms':>9s} {'previous ms':>12s}")
    for kind in ("gaussian", "row-scaled", "nearly-sorted", "half-zeros"):
        v = weights(kind, args.rows, args.cols, rng)
        for k in (p // 10, p // 2):
            t_new, s_new = best_of(K.topk_abs, v, k, args.repeats)
            t_np, s_np = best_of(numpy_topk_abs, v, k, args.repeats)
            t_old, s_old = best_of(previous_topk_abs, v, k, 1)
            a = np.abs(v)
            # same selected magnitudes (ties may pick different indices in numpy)
            assert np.array_equal(np.sort(a[s_new]), np.sort(a[s_np]))
            assert np.array_equal(s_new, s_old)
            rows.append(
                dict(weights=kind, p=p, k=k, topk_abs_s=t_new, numpy_s=t_np, previous_s=t_old)
            )
            print(f"{kind:14s} {k:8d} {t_new * 1e3:12.1f} {t_np * 1e3:9.1f} {t_old * 1e3:12.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"rows": args.rows, "cols": args.cols, "results": rows}, indent=1)
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
