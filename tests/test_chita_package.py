"""The user-facing ``chita`` package: re-exports, lazy torch names, version, ``--version``."""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import chita
import solvers
import sparse_regression

ROOT = Path(__file__).resolve().parents[1]

CORE = [
    "IHTSolver",
    "SparseLinearRegression",
    "SparseLinearRegressionCV",
    "SparseProblem",
    "SparseSolution",
    "backsolve",
    "solve",
]
BACKENDS = {
    "verify": "verify",
    "Certificate": "Certificate",
    "MIPSolver": "MIPSolver",
    "EnumerationSolver": "EnumerationSolver",
    "get_solver": "get",
}
TORCH = [
    "prune",
    "PruneReport",
    "make_permanent",
    "default_solver",
    "load_masks",
    "prune_gradually",
    "recalibrate_batchnorm",
    "prune_layerwise",
    "LayerwiseReport",
]


@pytest.mark.parametrize("name", CORE)
def test_core_names_are_the_core_objects(name):
    assert getattr(chita, name) is getattr(sparse_regression, name)


@pytest.mark.parametrize("name, original", sorted(BACKENDS.items()))
def test_solver_names_are_the_backend_objects(name, original):
    assert getattr(chita, name) is getattr(solvers, original)


@pytest.mark.parametrize("name", TORCH)
def test_torch_names_are_the_adapter_objects(name):
    import adapters.torch

    assert getattr(chita, name) is getattr(adapters.torch, name)


def test_all_lists_exactly_the_public_names():
    assert sorted(chita.__all__) == sorted([*CORE, *BACKENDS, *TORCH, "__version__"])
    assert set(chita.__all__) <= set(dir(chita))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        chita.nope  # noqa: B018


def test_version_comes_from_the_package_metadata():
    assert chita.__version__ == version("chita")


def test_cli_version_flag_prints_the_version(capsys):
    from adapters.demo.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"chita {version('chita')}"


def test_import_chita_without_torch_solves_and_names_the_extra():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import numpy as np, chita\n"
        "A = np.random.default_rng(0).standard_normal((30, 8))\n"
        "sol = chita.solve(chita.SparseProblem(A, A[:, 0] + A[:, 1], 2))\n"
        "print(np.flatnonzero(sol.coef).tolist())\n"
        "print('torch' in sys.modules)\n"
        "try:\n    chita.prune\n"
        "except ImportError as e:\n    print(e)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.strip().splitlines()
    assert lines[0] == "[0, 1]"
    assert lines[1] == "False"
    assert "chita[torch]" in lines[2]


def test_python_dash_m_chita_runs_the_cli():
    run = subprocess.run(
        [sys.executable, "-m", "chita", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == f"chita {version('chita')}"
