"""Runs with symbolic sizes: shapes keep the symbol's text, a cost without an int (an unbacked,
data-dependent size) marks its row unsupported with the expression, and no report raises."""

from __future__ import annotations

from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.fx.experimental.symbolic_shapes import (
    DimDynamic,
    ShapeEnv,
    StatelessSymbolicContext,
)

from opcount import OpCounter, read_csv


def unbacked_run() -> OpCounter:
    with FakeTensorMode(shape_env=ShapeEnv()):
        x, w, keep = torch.randn(8, 32), torch.randn(32, 64), torch.randn(8) > 0
        with OpCounter(warn=False) as counter:
            x[torch.nonzero(keep).squeeze(1)] @ w
    return counter


def test_unbacked_sizes_build_every_report(tmp_path: Path) -> None:
    counter = unbacked_run()
    rows = counter.to_dataframe()
    mm = rows[rows["op"] == "aten.mm"].iloc[0]
    # the product's rows are the number of kept rows, u0: [u0, 32] @ [32, 64]
    assert mm.shapes == "[[u0, 32], [32, 64]]"
    assert (mm.status, mm.flops, mm.macs) == ("unsupported", 0, 0)
    unsupported = counter.unsupported_ops().set_index("op")
    # 2 * u0 * 32 * 64 FLOPs
    assert "flops depends on a data-dependent size: 4096*u0" in unsupported.loc["aten.mm", "reason"]
    assert not counter.complete
    assert counter.total_flops == int(rows["flops"].sum())
    assert counter.total_macs == 0
    counter.by_module()
    counter.by_op()
    assert "aten.mm" in str(counter)
    counter.to_csv(tmp_path / "rows.csv")
    assert list(read_csv(tmp_path / "rows.csv")["op"]) == list(rows["op"])


def test_backed_symbolic_sizes_count_as_their_hints() -> None:
    env = ShapeEnv()
    with FakeTensorMode(shape_env=env) as fake:
        context = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DYNAMIC, DimDynamic.STATIC])
        a = fake.from_tensor(torch.randn(6, 4), symbolic_context=context)
        b = torch.randn(4, 5)
        with OpCounter(warn=False) as counter:
            a @ b
    row = counter.to_dataframe().iloc[-1]
    assert row.op == "aten.mm"
    assert (row.status, row.macs) == ("counted", 6 * 4 * 5)
