"""Memory budget: parse ``memory_limit`` and estimate what a pruning problem needs."""

from __future__ import annotations

import math
import os
import re

from sparse_regression.constants import AUTO_MEMORY_FRACTION

__all__ = ["available_memory", "parse_memory_limit", "problem_bytes", "format_bytes"]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def available_memory() -> int:
    """Bytes of RAM available now (``MemAvailable`` on Linux, else free physical pages)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 8 * 2**30


def format_bytes(n: float) -> str:
    """Human-readable binary size (``'1.50 GiB'``)."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def parse_memory_limit(limit) -> float:
    """Bytes allowed for the problem: ``"auto"`` (a fraction of available RAM), ``None`` (no
    limit), a number of bytes, or a string such as ``"6GB"``, ``"512 MiB"``."""
    if limit is None:
        return math.inf
    if isinstance(limit, str):
        s = limit.strip().lower()
        if s == "auto":
            return AUTO_MEMORY_FRACTION * available_memory()
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)", s)
        if not m or m.group(2) not in _UNITS:
            raise ValueError(
                f"memory_limit={limit!r} is not understood; use 'auto', None, a number of bytes "
                "or a size such as '6GB' or '512MiB'."
            )
        value = float(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(limit, int | float) and not isinstance(limit, bool):
        value = float(limit)
    else:
        raise ValueError(
            f"memory_limit must be 'auto', None, bytes or a size string, got {limit!r}."
        )
    if not value > 0:
        raise ValueError(f"memory_limit must be positive, got {limit!r}.")
    return value


def problem_bytes(n: int, p: int, k: int) -> int:
    """Estimated peak bytes of one problem with n rows, p columns and k nonzeros.

    A itself (float32, ``4 n p``), the solver's working-set copy of about ``2k`` columns
    (float32) and the float64 support matrix of the exact backsolve (``8 n k``, plus its float32
    gather).
    """
    k = min(k, p)
    return 4 * n * p + 4 * n * min(p, 2 * k) + 12 * n * k
