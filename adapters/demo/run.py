"""The main job, ``chita demo``: prune MLPNet on digits with magnitude, CHITA and CHITA++.

MLPNet (784-40-20-10, no biases) is trained on scikit-learn's digits upsampled to 28x28
(1200 training / 597 test images, stratified), cached in the output folder, then pruned at each
sparsity with each method from the same dense weights; test accuracy and pruning time are
tabulated, plotted (PNG) and saved as JSON.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from .._require import require_torch

torch = require_torch()

__all__ = ["DemoConfig", "run_demo", "format_table", "weights_file", "TRAIN_SETTINGS"]

#: How the demo trains MLPNet (AdamW, one-cycle schedule; deterministic given the seed).
TRAIN_SETTINGS = {"epochs": 40, "lr": 1e-2}


def weights_file(seed: int) -> str:
    """File name of the demo's trained weights; it names the training settings, so a cache
    written by other settings is never read back."""
    return f"mlpnet_digits28_seed{seed}_e{TRAIN_SETTINGS['epochs']}_lr{TRAIN_SETTINGS['lr']:g}.pt"


@dataclass
class DemoConfig:
    sparsities: tuple[float, ...] = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
    methods: tuple[str, ...] = ("magnitude", "chita", "chita++")
    n_samples: int = 500
    output: Path = Path("chita-output")
    seed: int = 0
    threads: int | None = 1
    progress: bool = True
    overrides: dict = field(default_factory=dict)
    cache_dir: Path | None = None  # where the trained weights are cached (default: output)


def _settings(method: str, cfg: DemoConfig) -> dict:
    """``prune``'s defaults (chita: ridge 1e-3; chita++: 8 stages, ridge 1e-3) unless the
    command line overrides them; magnitude takes no settings."""
    kw = {}
    for key, val in cfg.overrides.items():
        if val is None or method == "magnitude" or (key == "stages" and method != "chita++"):
            continue
        kw[key] = val
    return kw


def run_demo(cfg: DemoConfig) -> dict:
    """Train (or load) MLPNet, prune it at every (method, sparsity) and save table/plot/JSON."""
    from tqdm.auto import tqdm

    from ..torch import prune
    from .data import load_digits
    from .models import MLPNet
    from .threads import set_threads
    from .train import accuracy, load_or_train

    set_threads(cfg.threads)
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    data = load_digits(28, random_state=cfg.seed)
    t0 = time.perf_counter()
    model, cached = load_or_train(
        MLPNet,
        Path(cfg.cache_dir or out) / weights_file(cfg.seed),
        data.X_train,
        data.y_train,
        seed=cfg.seed,
        **TRAIN_SETTINGS,
    )
    t_train = time.perf_counter() - t0
    dense = {k: v.clone() for k, v in model.state_dict().items()}
    dense_acc = accuracy(model, data.X_test, data.y_test)
    calib = (data.X_train, data.y_train)
    # Warm-up (JIT compilation, allocator): not timed.
    # (the same sample count and a high sparsity, so that every kernel the timed runs use, the
    # parallel ones included, is compiled or loaded from the cache here)
    prune(model, calib, sparsity=0.9, n_samples=cfg.n_samples, progress=False)
    model.load_state_dict(dense)

    runs, n_used = [], set()
    jobs = [(m, s) for m in cfg.methods for s in cfg.sparsities]
    bar = tqdm(jobs, desc="chita demo", disable=not cfg.progress, unit="run")
    for method, s in bar:
        bar.set_postfix_str(f"{method} @ {s:g}")
        model.load_state_dict(dense)
        kw = _settings(method, cfg)
        t0 = time.perf_counter()
        rep = prune(
            model,
            calib,
            sparsity=s,
            method=method,
            n_samples=cfg.n_samples,
            progress=False,
            random_state=cfg.seed,
            **kw,
        )
        elapsed = time.perf_counter() - t0
        if method != "magnitude":
            n_used.add(rep.n_samples)
        runs.append(
            {
                "method": method,
                "sparsity": s,
                "settings": kw,
                "test_accuracy": accuracy(model, data.X_test, data.y_test),
                "time_prune": elapsed,
                "time_gradients": rep.times["gradients"],
                "time_solve": rep.times["solve"],
                "objective_magnitude": rep.objective_magnitude,
                "objective": rep.objective,
                "achieved_sparsity": rep.achieved_sparsity,
                "n_samples_used": rep.n_samples if method != "magnitude" else None,
                "warnings": rep.warnings,
            }
        )
    model.load_state_dict(dense)
    result = {
        "model": "MLPNet 784-40-20-10 (no bias)",
        "data": "sklearn digits upsampled to 28x28, 1200 train / 597 test (stratified)",
        # samples actually used for the Fisher (the data may have fewer than requested)
        "n_samples": max(n_used) if n_used else min(cfg.n_samples, len(calib[0])),
        "n_samples_requested": cfg.n_samples,
        "seed": cfg.seed,
        "threads": cfg.threads,
        "dense_test_accuracy": dense_acc,
        "train_seconds": t_train,
        "weights_cached": cached,
        "machine": f"{platform.machine()} {platform.processor() or ''} "
        f"torch {torch.__version__}".strip(),
        "runs": runs,
    }
    (out / "demo_results.json").write_text(json.dumps(result, indent=2))
    _plot(result, out / "demo_accuracy.png")
    return result


def format_table(result: dict) -> str:
    """Markdown table: sparsity x method -> test accuracy (time to prune)."""
    methods = list(dict.fromkeys(r["method"] for r in result["runs"]))
    sps = sorted({r["sparsity"] for r in result["runs"]})
    by = {(r["method"], r["sparsity"]): r for r in result["runs"]}
    head = "| sparsity | " + " | ".join(f"{m} acc (time)" for m in methods) + " |"
    lines = [
        f"dense MLPNet test accuracy: {100 * result['dense_test_accuracy']:.1f}% "
        f"(n_samples={result['n_samples']} used"
        + (
            f", {result['n_samples_requested']} requested"
            if result.get("n_samples_requested", result["n_samples"]) != result["n_samples"]
            else ""
        )
        + ")",
        head,
        "|" + "---|" * (len(methods) + 1),
    ]
    for s in sps:
        cells = []
        for m in methods:
            r = by.get((m, s))
            cells.append(f"{100 * r['test_accuracy']:.1f}% ({r['time_prune']:.2f}s)" if r else "-")
        lines.append(f"| {s:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
    for m in dict.fromkeys(r["method"] for r in result["runs"]):
        rs = sorted((r for r in result["runs"] if r["method"] == m), key=lambda r: r["sparsity"])
        ax.plot([r["sparsity"] for r in rs], [100 * r["test_accuracy"] for r in rs], "o-", label=m)
    ax.axhline(100 * result["dense_test_accuracy"], color="gray", ls=":", label="dense")
    ax.set_xlabel("sparsity")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("MLPNet on digits-28, no fine-tuning")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
