"""Settings study on the demo model (the numbers quoted in docs/pruning.md).

* ridge x n_samples x first_order for single-shot CHITA at 90% and 95% sparsity;
* stages x ridge for CHITA++ at 90/95/98%;
* thread oversubscription: a 500 x 500 Cholesky and a CHITA prune with 1 vs 2 threads (each in
  a fresh process, since thread pools are set at start-up).

Writes ``benchmarks/results/tune_mlpnet.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"

_THREADS_PROBE = """
import sys, time, json
sys.path.insert(0, {root!r})
import numpy as np
from adapters.demo.threads import set_threads
set_threads({nt})
import scipy.linalg as sla
rng = np.random.default_rng(0)
M = rng.standard_normal((500, 3000)); K = M @ M.T + np.eye(500)
sla.cho_factor(K)
t = time.perf_counter()
for _ in range(5): sla.cho_factor(K, lower=True, check_finite=False)
chol = (time.perf_counter() - t) / 5
from adapters.demo.data import load_digits
from adapters.demo.models import MLPNet
from adapters.demo.run import TRAIN_SETTINGS, weights_file
from adapters.demo.train import REPO_CACHE, load_or_train
from adapters.torch import prune
d = load_digits(28)
m, _ = load_or_train(MLPNet, REPO_CACHE / weights_file(0), d.X_train, d.y_train,
                     **TRAIN_SETTINGS)
sd = {{k: v.clone() for k, v in m.state_dict().items()}}
prune(m, (d.X_train, d.y_train), sparsity=0.9, progress=False, random_state=0)
m.load_state_dict(sd)
t = time.perf_counter()
prune(m, (d.X_train, d.y_train), sparsity=0.9, progress=False, random_state=0)
dt = time.perf_counter() - t
print(json.dumps({{"threads": {nt}, "cholesky_500_s": chol, "chita_prune_0.9_s": dt}}))
"""


def main() -> None:
    from adapters.demo.data import load_digits
    from adapters.demo.models import MLPNet
    from adapters.demo.run import TRAIN_SETTINGS, weights_file
    from adapters.demo.threads import set_threads
    from adapters.demo.train import REPO_CACHE, accuracy, load_or_train
    from adapters.torch import prune

    threads = []
    for nt in (1, 2):
        code = _THREADS_PROBE.format(root=str(ROOT), nt=nt)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)  # fmt: skip
        threads.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(threads[-1], flush=True)

    set_threads(1)
    d = load_digits(28)
    model, _ = load_or_train(
        MLPNet, REPO_CACHE / weights_file(0), d.X_train, d.y_train, **TRAIN_SETTINGS,
    )  # fmt: skip
    dense = {k: v.clone() for k, v in model.state_dict().items()}

    def run(sparsity, **kw):
        model.load_state_dict(dense)
        t = time.perf_counter()
        prune(model, (d.X_train, d.y_train), sparsity=sparsity, progress=False, random_state=0,
              **kw)  # fmt: skip
        return {"sparsity": sparsity, **kw, "test_accuracy": accuracy(model, d.X_test, d.y_test),
                "time": time.perf_counter() - t}  # fmt: skip

    single = []
    for n in (500, 1000):
        for fo in (False, True):
            for r in (1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0):
                for s in (0.9, 0.95):
                    single.append(run(s, n_samples=n, ridge=r, first_order=fo))
                    print(single[-1], flush=True)
    multi = []
    for r, st in ((1e-3, 5), (1e-3, 10), (0.03, 5), (0.03, 10)):
        for s in (0.9, 0.95, 0.98):
            multi.append(run(s, method="chita++", stages=st, ridge=r))
            print(multi[-1], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    res = {"threads": threads, "chita": single, "chita++": multi}
    (RESULTS / "tune_mlpnet.json").write_text(json.dumps(res, indent=2))
    print(f"wrote {RESULTS / 'tune_mlpnet.json'}")


if __name__ == "__main__":
    main()
