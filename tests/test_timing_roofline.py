"""The roofline estimate: closed forms on meta tensors, overrides, per-module sums, bad input."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from helpers import count
from opcount import DEVICES, OpCounter, OpCountError, peak_flops
from opcount.timing import ceilings, roofline_frame

H100_BF16_MATRIX = 989.4e12  # NVIDIA H100 SXM datasheet, dense BF16 tensor core
H100_BANDWIDTH = 3.35e12  # 3.35 TB/s


def meta(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.empty(*shape, dtype=dtype, device="meta")


def test_bf16_mm_on_h100_is_compute_bound_at_the_matrix_peak() -> None:
    a = meta(4096, 4096, dtype=torch.bfloat16)
    c = count(lambda: torch.mm(a, a))
    row = c.roofline("h100-sxm").iloc[0]
    assert row["op"] == "aten.mm"
    assert row["est_time_s"] == 2 * 4096**3 / 989.4e12
    assert row["bound"] == "compute"
    # 3 bf16 matrices of 4096^2 moved
    assert row["intensity"] == 2 * 4096**3 / (3 * 4096**2 * 2)
    assert c.estimated_time("h100-sxm") == 2 * 4096**3 / 989.4e12


def test_float32_add_of_1e8_elements_is_memory_bound() -> None:
    x = meta(10**8)
    c = count(lambda: x + x)
    row = c.roofline("h100-sxm").iloc[0]
    # reads two float32 vectors, writes one: 3 x 4 x 10^8 bytes
    assert row["est_time_s"] == 1.2e9 / H100_BANDWIDTH
    assert row["bound"] == "memory"
    assert row["intensity"] == 10**8 / 1.2e9


def test_overrides_give_the_closed_form() -> None:
    a = meta(4096, 4096, dtype=torch.bfloat16)
    x = meta(10**8)
    c = count(lambda: (torch.mm(a, a), x + x))
    rows = c.roofline(peak_flops=1e14, bandwidth=1e11)  # no device: both numbers describe it
    assert list(rows["est_time_s"]) == [
        max(2 * 4096**3 / 1e14, 3 * 4096**2 * 2 / 1e11),
        max(10**8 / 1e14, 1.2e9 / 1e11),
    ]
    # one override on a named device keeps the other figure of the table
    rows = c.roofline("h100-sxm", bandwidth=1e12)
    assert list(rows["est_time_s"]) == [2 * 4096**3 / 989.4e12, 1.2e9 / 1e12]
    rows = c.roofline("h100-sxm", peak_flops=1e12)
    assert list(rows["est_time_s"]) == [2 * 4096**3 / 1e12, 1.2e9 / H100_BANDWIDTH]


def test_matrix_peak_for_matmul_conv_attention_vector_peak_for_the_rest() -> None:
    q = meta(2, 4, 128, 64, dtype=torch.bfloat16)
    w = meta(64, 16, 3, 3, dtype=torch.bfloat16)
    img = meta(1, 16, 32, 32, dtype=torch.bfloat16)
    h = meta(10**7, dtype=torch.bfloat16)

    def run() -> None:
        torch.nn.functional.scaled_dot_product_attention(q, q, q)
        torch.nn.functional.conv2d(img, w)
        torch.exp(h)

    c = count(run)
    rows = c.roofline("h100-sxm")
    for row in rows.itertuples():
        if row.flops == 0:
            assert row.est_time_s == (row.bytes_read + row.bytes_written) / H100_BANDWIDTH
            continue
        matrix = row.category in ("matmul", "conv", "attention")
        peak = peak_flops("h100-sxm", "bfloat16", matrix=matrix)
        moved = row.bytes_read + row.bytes_written
        assert row.est_time_s == max(row.flops / peak, moved / H100_BANDWIDTH), row.op
    assert "conv" in set(rows["category"])
    assert {"attention", "matmul"} & set(rows["category"])  # meta runs SDPA's math backend
    exp = rows[rows["op"] == "aten.exp"].iloc[0]
    assert peak_flops("h100-sxm", "bfloat16", matrix=False) == 133.8e12  # non-tensor FP16
    assert exp["est_time_s"] == max(exp["flops"] / 133.8e12, 4 * 10**7 / H100_BANDWIDTH)


def test_free_rows_take_no_time() -> None:
    x = meta(64, 64)
    c = count(lambda: (x.view(4096), x.t(), torch.empty(10, device="meta")))
    rows = c.roofline("h100-sxm")
    assert set(rows["status"]) == {"free"}
    assert list(rows["est_time_s"]) == [0.0] * len(rows)
    assert set(rows["bound"]) == {"none"}
    assert rows["intensity"].isna().all()  # nothing moved: no intensity


def test_every_device_of_the_table_estimates_a_float32_model() -> None:
    model = nn.Sequential(nn.Linear(32, 64), nn.LayerNorm(64), nn.GELU())
    c = count(lambda: model(torch.randn(4, 32)))
    rows = c.to_dataframe()
    for name, spec in DEVICES.items():
        estimate = c.roofline(name)
        expected = []
        for f, k, r, w in zip(
            rows["flops"], rows["category"], rows["bytes_read"], rows["bytes_written"]
        ):
            peak = (spec.matrix_flops if k == "matmul" else spec.vector_flops)["float32"]
            expected.append(max(f / peak if f else 0.0, (r + w) / spec.bandwidth))
        assert list(estimate["est_time_s"]) == expected, name
        assert c.estimated_time(name) == math.fsum(expected)


def test_roofline_keeps_the_rows_and_adds_three_columns() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    c = count(lambda: model(torch.randn(2, 8)).sum().backward())
    rows = c.to_dataframe()
    estimate = c.roofline("a100-sxm-80gb")
    assert list(estimate.columns) == [*rows.columns, "est_time_s", "intensity", "bound"]
    pd.testing.assert_frame_equal(estimate[list(rows.columns)], rows)
    assert set(estimate["bound"]) <= {"compute", "memory", "none"}
    assert "est_time_s" not in c.to_dataframe().columns  # the rows themselves are untouched


def test_by_module_carries_estimated_seconds_per_phase() -> None:
    model = nn.Sequential(nn.Linear(16, 32), nn.Sequential(nn.Linear(32, 32), nn.Tanh()))
    c = count(lambda: model(torch.randn(4, 16)).sum().backward(), model=model)
    estimate = c.roofline("h100-sxm")
    frame = c.by_module(device="h100-sxm").set_index("module")

    def seconds(rows: pd.DataFrame) -> float:
        return math.fsum(rows["est_time_s"].tolist())

    total = seconds(estimate)
    assert total == c.estimated_time("h100-sxm")
    # a module's own seconds are its rows'; its inclusive seconds its subtree's rows'
    for module in frame.index:
        own = estimate[estimate["module"] == module]
        assert frame.loc[module, "self_est_time_s"] == seconds(own)
        for phase in ("forward", "backward"):
            expected = seconds(own[own["phase"] == phase])
            assert frame.loc[module, f"self_{phase}_est_time_s"] == expected
    subtree = estimate[estimate["module"].isin(["1", "1.0", "1.1"])]
    assert frame.loc["1", "est_time_s"] == seconds(subtree)
    assert frame.loc["1", "backward_est_time_s"] == seconds(subtree[subtree["phase"] == "backward"])
    inside_root = estimate[estimate["module"] != "<outside>"]
    assert frame.loc["", "est_time_s"] == seconds(inside_root)
    assert frame.loc["", "est_time_share"] == seconds(inside_root) / total
    # without a device (and without timing) the frame is the plain one
    assert "est_time_s" not in c.by_module().columns
    # a phase filter times only that phase's rows
    forward = c.by_module(phase="forward", device="h100-sxm").set_index("module")
    assert list(forward["est_time_s"]) == list(frame["forward_est_time_s"])


def test_comm_rows_use_the_network_bandwidth_or_are_left_out() -> None:
    rows = pd.DataFrame(
        {
            "flops": [0, 2 * 10**9],
            "bytes_read": [4 * 10**6, 10**6],
            "bytes_written": [4 * 10**6, 10**6],
            "category": ["comm", "matmul"],
            "dtype": ["bfloat16", "bfloat16"],
            "op": ["c10d.all_reduce_", "aten.mm"],
            "comm_bytes": [6 * 10**6, 0],
        }
    )
    left_out = roofline_frame(rows, ceilings("h100-sxm"))
    assert list(left_out["est_time_s"]) == [0.0, 2 * 10**9 / 989.4e12]
    assert list(left_out["bound"]) == ["none", "compute"]
    timed = roofline_frame(rows, ceilings("h100-sxm", network_bandwidth=450e9))
    assert list(timed["est_time_s"]) == [6 * 10**6 / 450e9, 2 * 10**9 / 989.4e12]
    assert list(timed["bound"]) == ["network", "compute"]


def test_unknown_device_and_missing_or_bad_numbers_are_refused() -> None:
    c = count(lambda: meta(4) + 1)
    with pytest.raises(OpCountError, match="h999"):
        c.roofline("h999")
    with pytest.raises(OpCountError, match="peak_flops= and bandwidth="):
        c.roofline()
    with pytest.raises(OpCountError, match="peak_flops= and bandwidth="):
        c.roofline(peak_flops=1e12)
    with pytest.raises(OpCountError, match="-5"):
        c.roofline("h100-sxm", bandwidth=-5)
    with pytest.raises(OpCountError, match="'fast'"):
        c.roofline("h100-sxm", peak_flops="fast")  # type: ignore[arg-type]
    with pytest.raises(OpCountError, match="nothing counted"):
        OpCounter().roofline("h100-sxm")


def test_a_dtype_without_a_peak_on_the_device_names_both() -> None:
    a = meta(64, 64, dtype=torch.float8_e4m3fn)
    b = meta(64, 64, dtype=torch.float8_e4m3fn).t()
    scale = torch.ones((), device="meta")
    c = count(lambda: torch._scaled_mm(a, b, scale, scale, out_dtype=torch.bfloat16))
    assert c.to_dataframe()["flops"].sum() > 0
    with pytest.raises(OpCountError, match=r"float8.*a100"):
        c.roofline("a100-sxm-80gb")  # Ampere has no fp8 tensor cores
    row = c.roofline("h100-sxm").iloc[-1]
    moved = row["bytes_read"] + row["bytes_written"]
    assert row["est_time_s"] == max(row["flops"] / 1978.9e12, moved / H100_BANDWIDTH)


def test_roofline_table_lists_modules_with_their_estimate() -> None:
    model = nn.Sequential(nn.Linear(256, 256), nn.LayerNorm(256))
    c = count(lambda: model(meta(8, 256)), model=model.to("meta"))
    text = c.roofline_table("h100-sxm", depth=1)
    from opcount.timing.table import format_seconds

    assert text.splitlines()[0] == (
        f"roofline on h100-sxm: estimated {format_seconds(c.estimated_time('h100-sxm'))} in all"
    )
    assert "LayerNorm" in text
    assert "memory" in text
