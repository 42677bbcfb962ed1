"""Every export read back and compared: CSV, JSON (schema version), Parquet (and the error
without pyarrow), and the LaTeX / Markdown paper tables."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from opcount import OpCounter, OpCountError, read_csv, read_json, read_parquet
from opcount.reports.export import (
    SCHEMA_VERSION,
    column_scale,
    paper_table,
    rows_to_json,
    write_parquet,
)
from opcount.reports.frames import COLUMNS, LATER_COLUMNS
from report_models import TinyTransformer, TwoTower


@pytest.fixture(scope="module")
def counter() -> OpCounter:
    torch.manual_seed(0)
    model = TinyTransformer()
    x = torch.randn(2, 5, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(model) as c:
            model(x).sum().backward()
    return c


def test_csv_round_trip(counter: OpCounter, tmp_path: Path) -> None:
    counter.to_csv(tmp_path / "rows.csv")
    pd.testing.assert_frame_equal(read_csv(tmp_path / "rows.csv"), counter.to_dataframe())


def test_csv_written_before_the_later_columns_reads_back(
    counter: OpCounter, tmp_path: Path
) -> None:
    # a file of an earlier opcount has none of recompute_macs, region and comm_bytes
    older = counter.to_dataframe().drop(columns=list(LATER_COLUMNS))
    older.to_csv(tmp_path / "older.csv", index=False)
    rows = read_csv(tmp_path / "older.csv")
    assert list(rows.columns) == list(COLUMNS)
    assert (rows["recompute_macs"] == 0).all()
    assert (rows["comm_bytes"] == 0).all()
    assert (rows["region"] == "").all()
    pd.testing.assert_frame_equal(rows.drop(columns=list(LATER_COLUMNS)), older, check_dtype=False)


def test_json_round_trip_with_schema(counter: OpCounter, tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    assert counter.to_json(path) is None
    pd.testing.assert_frame_equal(read_json(path), counter.to_dataframe())
    payload = json.loads(path.read_text())
    assert payload["schema"] == "opcount.rows"
    assert payload["schema_version"] == SCHEMA_VERSION
    assert payload["columns"] == list(COLUMNS)
    assert payload["totals"]["flops"] == counter.total_flops
    assert payload["totals"]["params"] == counter.num_params
    text = counter.to_json()
    assert isinstance(text, str)
    with open(path, encoding="utf-8") as handle:
        pd.testing.assert_frame_equal(read_json(handle), counter.to_dataframe())


def test_json_refuses_other_files(tmp_path: Path) -> None:
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema": "opcount.rows", "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(OpCountError, match="upgrade opcount"):
        read_json(newer)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"hello": 1}))
    with pytest.raises(OpCountError, match="not an opcount rows file"):
        read_json(other)


def test_parquet_round_trip(counter: OpCounter, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "rows.parquet"
    counter.to_parquet(path)
    pd.testing.assert_frame_equal(read_parquet(path), counter.to_dataframe())


def test_parquet_without_pyarrow_names_the_package(
    counter: OpCounter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # makes `import pyarrow` fail
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(OpCountError, match=r"'pyarrow'.*pip install pyarrow"):
        counter.to_parquet(tmp_path / "rows.parquet")
    with pytest.raises(OpCountError, match="'pyarrow'"):
        read_parquet(tmp_path / "rows.parquet")


def test_integers_beyond_int64_survive_every_format(counter: OpCounter, tmp_path: Path) -> None:
    rows = counter.to_dataframe()
    rows["flops"] = np.array([2**70 + i for i in range(len(rows))], dtype=object)
    (tmp_path / "big.json").write_text(rows_to_json(rows))
    assert list(read_json(tmp_path / "big.json")["flops"]) == list(rows["flops"])
    rows.to_csv(tmp_path / "big.csv", index=False)
    assert list(read_csv(tmp_path / "big.csv")["flops"]) == list(rows["flops"])
    pytest.importorskip("pyarrow")
    write_parquet(rows, tmp_path / "big.parquet")
    assert list(read_parquet(tmp_path / "big.parquet")["flops"]) == list(rows["flops"])


def test_markdown_and_latex_tables() -> None:
    model = TwoTower()
    a = torch.randn(2, 3, 8, 8)
    with torch.no_grad(), OpCounter(model, costs={"bias_add": 1}) as counter:
        model(a, a)
    markdown = counter.to_markdown(depth=1)
    assert markdown.splitlines() == [
        "| Module | Params (K) | KMACs | KFLOPs |",
        "|:--|--:|--:|--:|",
        "| tower\\_a | 0.11 | 13.82 | 28.16 |",
        "| skip | 0.00 | 0.00 | 0.00 |",
        "| fc\\_a | 2.57 | 5.12 | 10.26 |",
        "| tower\\_b | 0.11 | 13.82 | 27.65 |",
        "| fc\\_b | 2.56 | 5.12 | 10.24 |",
        "| **Total** | **5.35** | **37.89** | **76.31** |",
    ]
    latex = counter.to_latex(depth=2, digits=1)
    assert r"\begin{tabular}{lrrr}" in latex
    assert r"Module & Params (K) & KMACs & KFLOPs \\" in latex
    assert r"\quad tower\_a.0 & 0.1 & 13.8 & 28.2 \\" in latex
    assert r"Total & 5.3 & 37.9 & 76.3 \\" in latex
    assert latex.count(r"\\") == 1 + 9 + 1  # header, modules to depth 2, total


def test_paper_table_numbers_come_from_by_module() -> None:
    frame = pd.DataFrame(
        {
            "module": ["", "blocks.0", "blocks.0.q", "head", "<outside>"],
            "depth": [0, 2, 3, 1, 0],
            "forward_macs": [3_000_000_000, 2_000_000_000, 1_000_000_000, 1_000_000_000, 0],
            "forward_flops": [6_000_000_000, 4_000_000_000, 2_000_000_000, 2_000_000_000, 500],
        }
    )
    text = paper_table(frame, "markdown", depth=1)
    # blocks.0 is level 1 (its ModuleList never ran); the total adds the outside ops
    assert text.splitlines()[2:] == [
        "| blocks.0 | 2.00 | 4.00 |",
        "| head | 1.00 | 2.00 |",
        "| &lt;outside&gt; | 0.00 | 0.00 |",
        "| **Total** | **3.00** | **6.00** |",
    ]
    assert column_scale([999, 1_000], "compute") == (1_000, "K")
    assert column_scale([5], "params") == (1, "")
    with pytest.raises(OpCountError, match="latex"):
        paper_table(frame, "html")
