"""Per step and summed costs of a generation: call 0 of the root module is the prefill, every
later call a decode step.

Derived from the rows alone, so a user can redo it from the CSV:

- ``tokens`` of a step: the elements of the indices the step's first forward ``aten.embedding``
  looks up (batch x positions fed), ``positions`` their last dimension; ``context`` the
  positions fed so far (the keys the step's attention sees with a KV cache);
- ``kv_cache_bytes``: the bytes of the key and value tensors (the 2nd and 3rd tensor inputs) of
  the step's forward ops of category ``attention``: scaled-dot-product attention and the fused
  multi-head kernels take ``(query, key, value, ...)``. With a KV cache these are the cached
  keys and values of every layer. A model computing attention from matmuls (eager
  implementations) has no attention op, so this column is 0 for it.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import OpCountError
from ..reports.calls import CALL_METRICS, call_owners

__all__ = ["STAGES", "generation_steps", "generation_summary"]

STAGES = ("prefill", "decode")

_STEP_METRICS = (*CALL_METRICS, "kv_cache_bytes")


def _itemsize(dtype: str) -> int:
    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise OpCountError(f"unknown dtype {dtype!r} in the rows")
    return value.itemsize


def _kv_bytes(shapes_text: str, dtype: str) -> int:
    """Bytes of the 2nd and 3rd tensors of an attention row (key and value)."""
    shapes: list[list[int]] = ast.literal_eval(shapes_text)
    if len(shapes) < 3:
        return 0
    return (math.prod(shapes[1]) + math.prod(shapes[2])) * _itemsize(dtype)


def generation_steps(
    rows: pd.DataFrame,
    frame_ids: np.ndarray,
    frames: Sequence[tuple[str, str, int, int]],
    parents: Sequence[int],
    module: str = "",
) -> pd.DataFrame:
    """One row per call of ``module`` (the root by default): ``step`` (0 the prefill),
    ``stage``, ``tokens``, ``positions``, ``context``, ``ops``, ``flops``, ``macs``,
    ``bytes_read``, ``bytes_written`` and ``kv_cache_bytes`` of the call's forward ops."""
    calls, owner = call_owners(frames, parents, module)
    calls = [f for f in calls if frames[f][3] == 0]  # forward calls: recompute is no step
    forward = (rows["phase"] == "forward").to_numpy()
    row_owner = owner[frame_ids] if len(frame_ids) else np.zeros(0, dtype=np.int64)
    selected = rows.loc[forward & (row_owner >= 0)].assign(
        _call=row_owner[forward & (row_owner >= 0)]
    )
    sums = selected.groupby("_call", sort=False)[list(CALL_METRICS)].sum()
    counts = selected["_call"].value_counts()
    embeddings = selected[selected["op"] == "aten.embedding"].drop_duplicates("_call")
    first_lookup = dict(zip(embeddings["_call"], embeddings["shapes"]))
    attention = selected[selected["category"] == "attention"]
    kv: dict[int, int] = {}
    for call, shapes_text, dtype in zip(
        attention["_call"], attention["shapes"], attention["dtype"]
    ):
        kv[int(call)] = kv.get(int(call), 0) + _kv_bytes(str(shapes_text), str(dtype))
    records: list[dict[str, Any]] = []
    context = 0
    for step, frame in enumerate(calls):
        tokens = positions = 0
        lookup = first_lookup.get(frame)
        if lookup is not None:
            shapes = ast.literal_eval(str(lookup))  # [weight, indices]
            indices = shapes[1] if len(shapes) > 1 else []
            tokens = math.prod(indices)
            positions = indices[-1] if indices else 1
        context += positions
        record: dict[str, Any] = {
            "step": step,
            "stage": STAGES[0] if step == 0 else STAGES[1],
            "tokens": tokens,
            "positions": positions,
            "context": context,
            "ops": int(counts.get(frame, 0)),
        }
        for metric in CALL_METRICS:
            value: Any = sums.at[frame, metric] if frame in sums.index else 0
            record[metric] = int(value)
        record["kv_cache_bytes"] = kv.get(frame, 0)
        records.append(record)
    columns = ["step", "stage", "tokens", "positions", "context", "ops", *_STEP_METRICS]
    return pd.DataFrame.from_records(records, columns=columns)


def generation_summary(steps: pd.DataFrame) -> pd.DataFrame:
    """Prefill against decode from :func:`generation_steps`: rows ``prefill``, ``decode`` (all
    steps), ``decode first step``, ``decode last step`` (exact integers), ``decode mean step``
    and ``decode per token`` (decode totals over decode tokens; floats); columns ``steps``,
    ``tokens`` and the step metrics."""
    if len(steps) < 1:
        raise OpCountError("no call of the root module ran: nothing to summarise")
    metrics = ["tokens", *_STEP_METRICS]
    prefill = steps.iloc[0]
    decode = steps.iloc[1:]

    def record(stage: str, count: int, values: dict[str, Any]) -> dict[str, Any]:
        return {"stage": stage, "steps": count, **values}

    def exact(frame: pd.DataFrame) -> dict[str, Any]:
        return {m: int(frame[m].sum()) for m in metrics}

    records = [
        record("prefill", 1, {m: int(prefill[m]) for m in metrics}),
        record("decode", len(decode), exact(decode)),
    ]
    if len(decode):
        tokens = int(decode["tokens"].sum())
        steps_run = len(decode)
        records += [
            record("decode first step", 1, exact(decode.iloc[:1])),
            record("decode last step", 1, exact(decode.iloc[-1:])),
            record(
                "decode mean step",
                steps_run,
                {m: int(decode[m].sum()) / steps_run for m in metrics},
            ),
            record(
                "decode per token",
                steps_run,
                {m: int(decode[m].sum()) / tokens if tokens else 0.0 for m in metrics},
            ),
        ]
    columns = ["stage", "steps", *metrics]
    # object columns: the exact rows keep Python ints, the mean rows floats
    return pd.DataFrame(
        {c: pd.Series([r[c] for r in records], dtype=object) for c in columns}, columns=columns
    ).astype({"stage": str, "steps": "int64"})
