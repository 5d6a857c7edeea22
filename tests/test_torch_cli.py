"""``chita demo`` end to end on a small setting."""

import json

import matplotlib  # noqa: F401 - the demo's plot needs it (chita[torch])
import pytest
import torch  # noqa: F401

from adapters.demo.cli import main


def test_demo_writes_table_plot_and_json(tmp_path, capsys):
    args = [
        "demo",
        "--sparsities",
        "0.5,0.9",
        "--methods",
        "magnitude,chita",
        "--n-samples",
        "64",
        "--output",
        str(tmp_path),
        "--no-progress",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| sparsity |" in out and "magnitude acc" in out and "chita acc" in out
    res = json.loads((tmp_path / "demo_results.json").read_text())
    assert len(res["runs"]) == 4 and res["weights_cached"] is False
    assert (tmp_path / "demo_accuracy.png").stat().st_size > 1000
    for run in res["runs"]:
        assert run["achieved_sparsity"] == pytest.approx(run["sparsity"], abs=1e-4)
        assert 0.0 <= run["test_accuracy"] <= 1.0
    assert res["n_samples"] == 64 and "(n_samples=64 used)" in out
    # second run reuses the cached weights; more samples than the data has: says what it used
    args[args.index("--n-samples") + 1] = "100000"
    assert main(args + ["--methods", "magnitude"]) == 0
    res = json.loads((tmp_path / "demo_results.json").read_text())
    assert res["weights_cached"] is True
    assert res["n_samples"] == 1200 and res["n_samples_requested"] == 100000
    assert "(n_samples=1200 used, 100000 requested)" in capsys.readouterr().out


def test_demo_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--sparsities", "1.5"])
    with pytest.raises(SystemExit):
        main(["demo", "--methods", "random"])
