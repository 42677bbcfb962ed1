"""Helpers shared by the tests: ``from helpers import count, only_row``."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import torch

from opcount import OpCounter


def count(fn: Callable[[], Any], **counter_args: Any) -> OpCounter:
    """Run ``fn`` under a fresh OpCounter (unsupported-op warnings silenced) and return it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(**counter_args) as counter:
            fn()
    return counter


def op_rows(counter: OpCounter, op: str) -> pd.DataFrame:
    """The rows of one aten op (``"aten.mm"``)."""
    frame = counter.to_dataframe()
    return frame[frame["op"] == op].reset_index(drop=True)


def only_row(counter: OpCounter, op: str) -> pd.Series:
    """The single row of ``op``; fails if it ran a different number of times."""
    rows = op_rows(counter, op)
    assert len(rows) == 1, f"{op} ran {len(rows)} times: {list(counter.to_dataframe()['op'])}"
    return rows.iloc[0]


GRAD_MODES = (torch.enable_grad, torch.no_grad, torch.inference_mode)
"""The three autograd modes whose counts must agree."""


def counts_in_every_mode(fn: Callable[[], Any]) -> list[OpCounter]:
    """``fn`` counted with grad, under ``no_grad`` and under ``inference_mode``."""
    counters = []
    for mode in GRAD_MODES:

        def run(mode: Any = mode) -> None:
            with mode():
                fn()

        counters.append(count(run))
    return counters


def frames_in_every_mode(fn: Callable[[], Any]) -> list[pd.DataFrame]:
    """The rows of ``fn`` in each of :data:`GRAD_MODES`."""
    return [counter.to_dataframe() for counter in counts_in_every_mode(fn)]


def rows_in_every_mode(fn: Callable[[], Any], op: str) -> list[pd.Series]:
    """The single row of ``op`` in each of :data:`GRAD_MODES`."""
    return [only_row(counter, op) for counter in counts_in_every_mode(fn)]


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
