"""One documented constants module: every constant is documented and used, none is duplicated."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest

import sparse_regression.constants as C
from sparse_regression import IHTSolver, SparseProblem
from sparse_regression.pipeline import _local_search_mode

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = [ROOT / "sparse_regression", ROOT / "solvers", ROOT / "adapters" / "torch"]
CONSTANTS_FILE = ROOT / "sparse_regression" / "constants.py"
NAMES = [n for n in vars(C) if n.isupper()]


def _library_sources():
    for folder in LIBRARY:
        for path in sorted(folder.rglob("*.py")):
            if path != CONSTANTS_FILE:
                yield path, path.read_text()


def test_every_constant_has_a_comment_saying_why():
    lines = CONSTANTS_FILE.read_text().splitlines()
    for name in NAMES:
        i = next(i for i, line in enumerate(lines) if line.startswith(f"{name} ="))
        # the name's own "#:" comment, or the shared one of a group defined just above it
        j = i - 1
        while j >= 0 and re.match(r"[A-Z_0-9]+ = ", lines[j]):
            j -= 1
        assert lines[j].startswith("#:"), f"{name} has no '#:' comment"


@pytest.mark.parametrize("name", NAMES)
def test_every_constant_is_used_by_the_library(name):
    pattern = re.compile(rf"\b{name}\b")
    users = [p.name for p, text in _library_sources() if pattern.search(text)]
    assert users, f"constants.{name} is not used anywhere"


def test_no_tolerance_literal_outside_the_constants_module():
    """Small float literals (tolerances) live in constants.py, not inline in the code."""
    found = []
    for path, text in _library_sources():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Constant) and type(node.value) is float:
                if 0 < abs(node.value) < 1e-3:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert not found, found


def test_pipeline_reads_its_limits_at_call_time(monkeypatch):
    """The solve pipeline picks its swap search from constants.* when it runs."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 60))
    prob = SparseProblem(A, A[:, :3].sum(axis=1), 3)
    assert _local_search_mode(prob) == "full"
    monkeypatch.setattr(C, "SWAP_MAX_WORK", 10)
    assert _local_search_mode(prob) == "working-set"
    sol = IHTSolver(active_set=False, n_perturbations=0).solve(prob)
    assert sol.info["local_search"] == "working-set"
    monkeypatch.setattr(C, "WORKING_SET_MAX_WORK", 10)
    assert "working-set round" in _local_search_mode(prob)
