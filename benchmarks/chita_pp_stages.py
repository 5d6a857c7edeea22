"""How many stages should ``method="chita++"`` use by default? Measured on the demo's MLPNet.

For each training seed, MLPNet is trained on digits-28 exactly as ``chita demo`` trains it (no
cached weights: trained here, in a temporary folder), then pruned by CHITA++ at each sparsity
with each stage count and relative ridge; one stage is plain CHITA. Prints a table (mean test
accuracy over seeds, mean prune time) and writes ``benchmarks/results/chita_pp_stages.json``.

    python benchmarks/chita_pp_stages.py [--seeds 0,1] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)
STAGES = (1, 2, 4, 8, 16)
RIDGES = (1e-3, 0.03)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    from adapters.demo.data import load_digits
    from adapters.demo.models import MLPNet
    from adapters.demo.run import TRAIN_SETTINGS
    from adapters.demo.threads import set_threads
    from adapters.demo.train import accuracy, load_or_train
    from adapters.torch import prune

    set_threads(args.threads)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            data = load_digits(28, random_state=seed)
            model, _ = load_or_train(
                MLPNet,
                Path(tmp) / f"m{seed}.pt",
                data.X_train,
                data.y_train,
                seed=seed,
                **TRAIN_SETTINGS,
            )
            dense = {k: v.clone() for k, v in model.state_dict().items()}
            calib = (data.X_train, data.y_train)
            prune(model, calib, sparsity=0.9, progress=False)  # warm-up (JIT), not timed
            for s in SPARSITIES:
                for ridge in RIDGES:
                    for st in STAGES:
                        model.load_state_dict(dense)
                        t0 = time.perf_counter()
                        method = "chita" if st == 1 else "chita++"
                        rep = prune(
                            model,
                            calib,
                            sparsity=s,
                            method=method,
                            stages=st,
                            ridge=ridge,
                            progress=False,
                            random_state=seed,
                        )
                        dt = time.perf_counter() - t0
                        acc = accuracy(model, data.X_test, data.y_test)
                        runs.append(
                            {
                                "seed": seed,
                                "sparsity": s,
                                "ridge": ridge,
                                "stages": st,
                                "test_accuracy": acc,
                                "time": dt,
                                "objective": rep.objective,
                            }
                        )
                        print(
                            f"seed {seed} s={s:g} ridge={ridge:g} stages={st:>2}: "
                            f"{100 * acc:.1f}% {dt:.2f}s",
                            flush=True,
                        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "chita_pp_stages.json").write_text(
        json.dumps({"seeds": seeds, "threads": args.threads, "runs": runs}, indent=2)
    )
    print(table(runs))


def table(runs: list[dict]) -> str:
    import numpy as np

    head = "| sparsity | ridge | " + " | ".join(f"{st} stage(s)" for st in STAGES) + " |"
    lines = [head, "|" + "---|" * (len(STAGES) + 2)]
    for s in SPARSITIES:
        for ridge in RIDGES:
            cells = []
            for st in STAGES:
                rs = [r for r in runs if (r["sparsity"], r["ridge"], r["stages"]) == (s, ridge, st)]
                acc = 100 * np.mean([r["test_accuracy"] for r in rs])
                t = np.mean([r["time"] for r in rs])
                cells.append(f"{acc:.1f}% ({t:.1f} s)")
            lines.append(f"| {s:g} | {ridge:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
