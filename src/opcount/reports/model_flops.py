"""Model FLOPs and hardware FLOPs: the numerators of MFU and HFU, summed from the rows.

- model FLOPs: 2 x the MACs of the forward and backward phases, less the MACs fused kernels
  recompute inside themselves (``recompute_macs``): the model's math once, as PaLM (appendix B)
  and Megatron define MFU's numerator;
- hardware FLOPs: 2 x the MACs of forward, backward and activation-checkpoint recompute, the
  in-kernel recomputation included (HFU's numerator).

Optimizer steps and ops outside these phases add no model or hardware FLOPs.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["HARDWARE_PHASES", "MODEL_PHASES", "hardware_flops", "matmul_dtype", "model_flops"]

MODEL_PHASES = ("forward", "backward")
HARDWARE_PHASES = ("forward", "backward", "recompute")


def model_flops(rows: pd.DataFrame) -> int:
    """``2 * (macs - recompute_macs)`` over the forward and backward rows."""
    kept = rows[rows["phase"].isin(MODEL_PHASES)]
    return 2 * (int(kept["macs"].sum()) - int(kept["recompute_macs"].sum()))


def hardware_flops(rows: pd.DataFrame) -> int:
    """``2 * macs`` over the forward, backward and recompute rows."""
    return 2 * int(rows.loc[rows["phase"].isin(HARDWARE_PHASES), "macs"].sum())


def matmul_dtype(rows: pd.DataFrame) -> str | None:
    """The dtype whose rows hold the most MACs (ties: the first to run), None without MACs."""
    with_macs = rows[rows["macs"] > 0]
    if with_macs.empty:
        return None
    per_dtype = with_macs.groupby("dtype", sort=False)["macs"].sum()
    return str(per_dtype.idxmax())
