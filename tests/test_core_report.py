"""The row schema, CSV round trip and the basic aggregates of the core issue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers import count
from opcount import COLUMNS, read_csv


def small_run() -> tuple[nn.Module, object]:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    x = torch.randn(2, 3, 8, 8)
    return model, count(lambda: model(x).sum().backward(), model=model)


def test_schema_and_integer_columns() -> None:
    _, counter = small_run()
    frame = counter.to_dataframe()  # type: ignore[attr-defined]
    assert tuple(frame.columns[: len(COLUMNS)]) == COLUMNS
    for column in (
        "seq",
        "flops",
        "macs",
        "int_ops",
        "bytes_read",
        "bytes_written",
        "call",
        "fwd_seq",
    ):
        assert pd.api.types.is_integer_dtype(frame[column]), column
    assert list(frame["seq"]) == list(range(len(frame)))
    assert set(frame["phase"]) == {"forward", "backward"}
    assert set(frame["status"]) <= {"counted", "free", "unsupported"}
    assert frame["flops"].sum() == counter.total_flops  # type: ignore[attr-defined]
    assert frame["macs"].sum() == counter.total_macs  # type: ignore[attr-defined]


def test_csv_round_trip(tmp_path: Path) -> None:
    _, counter = small_run()
    path = tmp_path / "costs.csv"
    counter.to_csv(path)  # type: ignore[attr-defined]
    frame = counter.to_dataframe()  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(read_csv(path), frame)
    # plain pandas reads it too; keep_default_na keeps the root module's name "" a string
    plain = pd.read_csv(path, keep_default_na=False)
    pd.testing.assert_frame_equal(plain[list(COLUMNS)], frame[list(COLUMNS)], check_dtype=False)


def test_by_op_adds_up() -> None:
    _, counter = small_run()
    table = counter.by_op()  # type: ignore[attr-defined]
    frame = counter.to_dataframe()  # type: ignore[attr-defined]
    assert table["flops"].sum() == frame["flops"].sum()
    assert table["calls"].sum() == len(frame)
    conv = table[table["op"] == "aten.convolution"].iloc[0]
    assert conv["macs"] == 2 * 4 * 6 * 6 * 3 * 3 * 3


def test_str_labels_units() -> None:
    _, counter = small_run()
    text = str(counter)
    assert "MACs" in text
    assert "FLOPs" in text
