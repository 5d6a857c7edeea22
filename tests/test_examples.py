"""Every script in examples/ runs (fast settings) and prints what its docstring promises."""

import re
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
    monkeypatch.setenv("CHITA_EXAMPLES_FAST", "1")
    threads = None
    if name == "prune_mlp.py":
        torch = pytest.importorskip("torch")
        # one intra-op thread, as `chita demo` uses: on a busy 2-core machine tiny backward
        # passes otherwise spend most of their time synchronising threads
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    finally:
        if threads is not None:
            torch.set_num_threads(threads)
    out = capsys.readouterr().out
    for text in EXPECTED[name]:
        assert text in out, f"{name}: {text!r} missing from\n{out}"


def _quick_start_blocks() -> list[str]:
    text = (EXAMPLES.parent / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_readme_quick_start_runs(tmp_path, monkeypatch, capsys):
    torch = pytest.importorskip("torch")
    blocks = _quick_start_blocks()
    assert len(blocks) == 4
    monkeypatch.chdir(tmp_path)  # the pruning snippet writes masks.pt
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    namespace: dict = {}
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out.splitlines()
    assert "swap-optimal" in out and "6" in out  # the comments' claims
    after_cv = out[out.index("6") :]
    assert any(line.startswith("True ") for line in after_cv)  # the enumeration certificate
    assert (tmp_path / "masks.pt").exists()
    assert namespace["report"].stages == 8
