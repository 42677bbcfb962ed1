"""Generation reports: a run whose root module was called once per step (prefill, then decode
steps through a KV cache), per step and summed, with the bytes attention reads from the cache.
May import ``reports``, ``engine``, ``errors`` and pandas; never ``counter`` or ``cli``."""

from __future__ import annotations

from .summary import STAGES, generation_steps, generation_summary

__all__ = ["STAGES", "generation_steps", "generation_summary"]
