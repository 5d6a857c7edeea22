"""Command line: ``chita demo``, ``chita --version`` (``python -m chita`` from a checkout)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._version import package_version

__all__ = ["main"]


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not vals or any(not 0 <= v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"sparsities must lie in [0, 1), got {text!r}")
    return vals


def _methods(text: str) -> tuple[str, ...]:
    vals = tuple(v.strip() for v in text.split(",") if v.strip())
    bad = [v for v in vals if v not in ("magnitude", "chita", "chita++")]
    if not vals or bad:
        raise argparse.ArgumentTypeError(
            f"methods are magnitude, chita, chita++ (comma-separated), got {text!r}"
        )
    return vals


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="chita", description="CHITA neural-network pruning.")
    p.add_argument("--version", action="version", version=f"chita {package_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser(
        "demo",
        help="train MLPNet on digits and prune it with magnitude, chita and chita++",
        description="Train MLPNet (784-40-20-10) on scikit-learn's digits upsampled to 28x28 "
        "(cached), prune it at several sparsities with each method, print test accuracy and "
        "time, and save a plot and JSON in the output folder.",
    )
    d.add_argument(
        "--sparsities",
        type=_floats,
        default=(0.5, 0.7, 0.8, 0.9, 0.95, 0.98),
        help="comma-separated sparsities (default 0.5,0.7,0.8,0.9,0.95,0.98)",
    )
    d.add_argument(
        "--methods",
        type=_methods,
        default=("magnitude", "chita", "chita++"),
        help="comma-separated methods (default magnitude,chita,chita++)",
    )
    d.add_argument(
        "--n-samples", type=int, default=500, help="samples for the empirical Fisher (default 500)"
    )
    d.add_argument(
        "--output",
        type=Path,
        default=Path("chita-output"),
        help="output folder for weights cache, plot and JSON (default ./chita-output)",
    )
    d.add_argument("--seed", type=int, default=0, help="seed of split, training and sampling")
    d.add_argument(
        "--ridge",
        type=float,
        default=None,
        help="relative ridge for chita/chita++ (default: prune's, 1e-3)",
    )
    d.add_argument(
        "--stages",
        type=int,
        default=None,
        help="stages of chita++ (default: prune's, 8)",
    )
    d.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads for torch/Numba/BLAS (default 1: fastest on small machines; "
        "0 keeps the libraries' defaults)",
    )
    d.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    d.add_argument(
        "--flops",
        action="store_true",
        help="also run the FLOP-aware part: a small conv net pruned to fractions of its "
        "multiply-adds by magnitude, FLOP-aware magnitude and falcon (demo_flops.png)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``chita`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        if args.n_samples < 1:
            print("chita demo: --n-samples must be >= 1", file=sys.stderr)
            return 2
        if args.threads < 0:
            print(
                f"chita demo: --threads must be >= 0 (a thread count, or 0 to keep the "
                f"libraries' defaults), got {args.threads}",
                file=sys.stderr,
            )
            return 2
        try:
            from .run import DemoConfig, format_table, run_demo
        except ImportError as exc:
            print(f"chita demo: {exc}", file=sys.stderr)
            return 1
        cfg = DemoConfig(
            sparsities=args.sparsities,
            methods=args.methods,
            n_samples=args.n_samples,
            output=args.output,
            seed=args.seed,
            threads=args.threads or None,
            progress=not args.no_progress,
            overrides={"ridge": args.ridge, "stages": args.stages},
        )
        result = run_demo(cfg)
        print(format_table(result))
        if args.flops:
            from .flops_demo import format_flops_table, run_flops_demo

            flops = run_flops_demo(cfg.output, seed=args.seed, progress=not args.no_progress)
            print(format_flops_table(flops))
            print(f"FLOP-aware plot: {cfg.output / 'demo_flops.png'}")
        print(
            f"results: {cfg.output / 'demo_results.json'}, plot: {cfg.output / 'demo_accuracy.png'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
