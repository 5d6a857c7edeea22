"""The demo application, the adapter's first user: ``chita demo`` and the reference networks.

* :mod:`.cli` -- the ``chita`` command line;
* :mod:`.run` -- ``chita demo``: MLPNet on digits pruned with magnitude, CHITA and CHITA++;
* :mod:`.data` -- scikit-learn's digits upsampled (no download);
* :mod:`.models` -- MLPNet, ResNet20, MobileNetV1 (used by the demo and the benchmarks);
* :mod:`.train` -- a small deterministic training loop with a weight cache;
* :mod:`.threads` -- one call to set torch / Numba / BLAS thread counts.

Nothing here is imported by the library (:mod:`adapters.torch`); importing this package does
not import torch (the CLI's ``--help`` and ``--version`` work without it).
"""
