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


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
