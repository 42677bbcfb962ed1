"""The self-contained HTML report: the run's data as JSON plus an inline script that draws it.

Part of ``reports``: imports pandas, torch and ``opcount.reports`` / ``errors`` only, never
``counter``; the page's script and style ship beside it as package data (no network when opened).
"""

from __future__ import annotations

from .data import run_payload, sweep_payload
from .page import iframe, render_page
from .report import run_page, sweep_page, write_page

__all__ = [
    "iframe",
    "render_page",
    "run_page",
    "run_payload",
    "sweep_page",
    "sweep_payload",
    "write_page",
]
