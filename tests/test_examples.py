"""Every script in examples/ runs (fast settings) and prints what its docstring promises."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: What each example's output must contain.
EXPECTED = {
    "sparse_regression_estimators.py": ["5 features:", "tried k = [1, 2, 3", "chose 6"],
    "core_solver.py": ["chita: objective", "(swap-optimal)", "OMP: objective"],
    "certify.py": [
        "enumeration: optimal=True",
        "MIP: optimal=True",
        "status optimal",
        "one feature dropped",
        "optimal=False",
    ],
    "prune_mlp.py": [
        "magnitude at 80% sparsity",
        "chita at 80% sparsity",
        "chita++ at 80% sparsity",
        "method=chita++",
        "identical outputs True",
    ],
}


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name, monkeypatch, capsys):
    if name == "prune_mlp.py":
        pytest.importorskip("torch")
    monkeypatch.setenv("CHITA_EXAMPLES_FAST", "1")
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    out = capsys.readouterr().out
    for text in EXPECTED[name]:
        assert text in out, f"{name}: {text!r} missing from\n{out}"
