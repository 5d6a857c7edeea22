"""Sentences for calibration and evaluation, from text that ships with Python and scikit-learn.

Nothing is downloaded: the sentences come from scikit-learn's bundled dataset descriptions
(``DESCR`` of iris, wine, breast cancer, diabetes, digits, linnerud) and from the docstrings
of standard-library modules. They are split into sentences, filtered by length, deduplicated
and shuffled with a seed, so ``sentences(n, seed)`` is reproducible on any machine with the
same library versions.
"""

from __future__ import annotations

import importlib
import inspect
import re

import numpy as np

__all__ = ["corpus", "sentences"]

_STDLIB = (
    "argparse", "ast", "asyncio", "base64", "bisect", "calendar", "collections", "concurrent",
    "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "email",
    "enum", "fractions", "functools", "gzip", "hashlib", "heapq", "html", "http", "inspect",
    "io", "ipaddress", "itertools", "json", "logging", "mailbox", "math", "operator", "os",
    "pathlib", "pickle", "pprint", "queue", "random", "re", "sched", "secrets", "shutil",
    "socket", "sqlite3", "statistics", "string", "struct", "subprocess", "tarfile", "tempfile",
    "textwrap", "threading", "timeit", "tokenize", "typing", "unittest", "urllib", "uuid",
    "warnings", "weakref", "xml", "zipfile", "zlib",
)  # fmt: skip


def _texts() -> list[str]:
    from sklearn import datasets

    out = []
    for loader in (
        datasets.load_iris,
        datasets.load_wine,
        datasets.load_breast_cancer,
        datasets.load_diabetes,
        datasets.load_digits,
        datasets.load_linnerud,
    ):
        out.append(loader().DESCR)
    for name in _STDLIB:
        try:
            mod = importlib.import_module(name)
        except ImportError:  # pragma: no cover - minimal Python builds
            continue
        out.append(inspect.getdoc(mod) or "")
        for _, obj in sorted(vars(mod).items()):
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(
                obj, "__module__", ""
            ) == name:
                out.append(inspect.getdoc(obj) or "")
    return out


def corpus(min_chars: int = 40, max_chars: int = 300) -> list[str]:
    """Every distinct sentence of the bundled texts with a length in ``[min_chars, max_chars]``."""
    seen, out = set(), []
    for text in _texts():
        flat = re.sub(r"\s+", " ", text)
        for sent in re.split(r"(?<=[.!?])\s+(?=[A-Z])", flat):
            sent = sent.strip()
            letters = sum(c.isalpha() for c in sent)
            if not (min_chars <= len(sent) <= max_chars) or letters < 0.6 * len(sent):
                continue
            if sent.lower() not in seen:
                seen.add(sent.lower())
                out.append(sent)
    return out


def sentences(n: int, seed: int = 0, *, skip: int = 0) -> list[str]:
    """``n`` sentences in a seeded random order, after the first ``skip`` of that order.

    ``sentences(128)`` and ``sentences(64, skip=128)`` are disjoint: calibration and held-out.
    """
    pool = corpus()
    if skip + n > len(pool):
        raise ValueError(f"only {len(pool)} sentences are available, asked for {skip + n}.")
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in order[skip : skip + n]]
