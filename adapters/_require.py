"""Import guard for the optional PyTorch extra."""

from __future__ import annotations

import importlib

__all__ = ["require_torch"]

_HINT = 'PyTorch is required for chita\'s pruning adapter: pip install "chita[torch]"'


def require_torch():
    """Return the real ``torch`` module, or raise an ImportError naming the extra to install."""
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        raise ImportError(_HINT) from exc
    if not hasattr(torch, "nn") or not hasattr(torch, "func"):
        # Shadowed (e.g. a script run from inside adapters/) or a broken/too old install.
        where = getattr(torch, "__file__", "?")
        raise ImportError(f"{_HINT} (found an unusable 'torch' module at {where}; need torch>=2.1)")
    return torch
