"""Drop-in replacements for the classic counters, with opcount's numbers.
May import ``counter``, ``reports``, ``formulas`` and ``errors``; nothing in opcount imports it.

Change one import and keep your code::

    from opcount.compat.thop import profile, clever_format          # was: from thop import ...
    from opcount.compat.ptflops import get_model_complexity_info    # was: from ptflops import ...
    from opcount.compat.summary import summary                      # was: pytorch_model_summary

Each runs the model once in eval mode under ``torch.no_grad()``, counts every aten op, and leaves
the model as it found it (no hooks, buffers or attributes left, each module's train/eval flag
restored). Where the numbers differ from the originals', docs/compat.md says why.
"""

from __future__ import annotations

from .ptflops import get_model_complexity_info
from .summary import summary
from .thop import clever_format, profile

__all__ = ["clever_format", "get_model_complexity_info", "profile", "summary"]
