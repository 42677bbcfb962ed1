"""Time: roofline estimates per row from the device table, measured-time columns, per-module time
sums, the Trace Event Format export, the roofline table and plot. May import ``engine``,
``reports``, ``formulas``, ``devices``, ``errors``, pandas and (lazily) matplotlib; never
``counter``, ``cli`` or ``compat``."""

from __future__ import annotations

from .plot import plot_roofline
from .roofline import Ceilings, ceilings, roofline_frame

__all__ = ["Ceilings", "ceilings", "plot_roofline", "roofline_frame"]
