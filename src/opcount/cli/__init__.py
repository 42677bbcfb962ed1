"""The ``opcount`` command: argument parsing, model loading, default inputs, sweeps.
The top of the stack: may import anything in opcount; nothing in opcount imports it."""

from __future__ import annotations

from .main import main

__all__ = ["main"]
