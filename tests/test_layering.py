"""The layering rule: sparse_regression imports neither torch nor cvxpy; solvers not torch."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_USE = """
import sys
import numpy as np
import {package}
from sparse_regression import SparseProblem, SparseLinearRegression, solve
A = np.random.default_rng(0).standard_normal((30, 8))
solve(SparseProblem(A, A[:, 0] + A[:, 1], 2))
SparseLinearRegression(n_nonzero_coefs=2).fit(A, A[:, 0])
{extra}
print(sorted(m for m in {forbidden!r} if m in sys.modules))
"""


@pytest.mark.parametrize(
    "package, forbidden, extra",
    [
        ("sparse_regression", ["torch", "cvxpy", "pyscipopt"], ""),
        (
            "solvers",
            ["torch"],
            "import solvers\nsolvers.verify(SparseProblem(A, A[:, 0], 2), np.eye(8)[0])",
        ),
    ],
)
def test_packages_never_import_the_layers_above(package, forbidden, extra):
    code = _USE.format(package=package, forbidden=forbidden, extra=extra)
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout


def test_exact_solvers_name_the_extra_when_missing():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pyscipopt', 'cvxpy'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, solvers\nfrom sparse_regression import SparseProblem\n"
        "A = np.random.default_rng(0).standard_normal((20, 8))\n"
        "try:\n    solvers.get('mip').solve(SparseProblem(A, A[:, 0], 2))\n"
        "except ImportError as e:\n    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "chita[exact]" in run.stdout
