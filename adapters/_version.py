"""The installed distribution's version (one source: the package metadata of ``chita``).

Kept in ``adapters`` (whose ``__init__`` imports nothing) so that ``chita --version`` answers
without loading numba, scikit-learn or torch; :data:`chita.__version__` reads it from here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


def package_version() -> str:
    """``importlib.metadata.version("chita")``, or ``"0+unknown"`` in a never-installed tree."""
    try:
        return version("chita")
    except PackageNotFoundError:
        return "0+unknown"
