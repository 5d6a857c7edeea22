"""Swap searches: improve a k-sparse point by exchanging support members for outside columns.

* :mod:`.single` -- exact single-swap search over all columns (small problems; the default);
* :mod:`.perturbation` -- iterated local search: random kicks, each followed by a swap search;
* :mod:`.woodbury_pool` -- ridge > 0, large problems: exact swap scores on a candidate pool in
  the n-dimensional Woodbury space;
* :mod:`.working_set` -- ridge = 0, large problems: the exact search on a working set of
  columns re-screened against all columns each round.

Every search backsolves exactly (float64) and keeps a move only if the objective decreased.
"""

from .perturbation import perturbation_search
from .single import GramRows, SwapResult, swap_search, swap_search_cost
from .woodbury_pool import woodbury_swap_search
from .working_set import working_set_swap_search

__all__ = [
    "GramRows",
    "SwapResult",
    "perturbation_search",
    "swap_search",
    "swap_search_cost",
    "woodbury_swap_search",
    "working_set_swap_search",
]
