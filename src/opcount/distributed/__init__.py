"""Distributed runs: each rank's own work under DTensor, collectives attributed, ranks gathered.
May import ``errors``, ``formulas``, ``engine`` and ``reports`` (never ``counter``: the counter
calls in here, and :func:`gather` takes any object with a counter's ``to_dataframe``).
"""

from __future__ import annotations

from .gather import by_rank, gather
from .local import RankMode, rank_mode

__all__ = ["RankMode", "by_rank", "gather", "rank_mode"]
