"""Measured time (``OpCounter(timing=True)``): a ``time_s`` per call on CPU, counts unchanged,
each call its own time, per-module sums, and the timed handler equal to the default one but for
its timing lines."""

from __future__ import annotations

import ast
import math
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

from opcount import OpCounter
from opcount.engine.mode import CountingMode
from opcount.engine.timed_mode import TimedCountingMode
from report_models import TinyTransformer

ENGINE = Path(__file__).resolve().parent.parent / "src" / "opcount" / "engine"


@torch.library.custom_op("opcount_test::nap", mutates_args=())
def nap(x: torch.Tensor, seconds: float) -> torch.Tensor:
    """An op whose kernel takes at least ``seconds``: a time the test knows."""
    time.sleep(seconds)
    return x.clone()


@nap.register_fake
def _(x: torch.Tensor, seconds: float) -> torch.Tensor:
    return torch.empty_like(x)


def run(timing: bool) -> tuple[OpCounter, float]:
    torch.manual_seed(0)
    model = TinyTransformer()
    x = torch.randn(2, 5, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counter = OpCounter(model, timing=timing)
        start = time.perf_counter()
        with counter:
            model(x).sum().backward()
        wall = time.perf_counter() - start
    return counter, wall


def test_every_row_has_its_time_within_the_wall_time_of_the_block() -> None:
    counter, wall = run(timing=True)
    rows = counter.to_dataframe()
    assert "time_s" in rows.columns
    counted = rows[rows["status"] == "counted"]
    assert len(counted) > 20
    assert (counted["time_s"] > 0).all()
    assert (rows["time_s"] >= 0).all()
    assert math.fsum(rows["time_s"]) <= wall
    assert {"forward", "backward"} <= set(rows["phase"])


def test_counts_are_those_of_an_untimed_run() -> None:
    timed, _ = run(timing=True)
    plain, _ = run(timing=False)
    rows = timed.to_dataframe()
    assert "time_s" not in plain.to_dataframe().columns
    pd.testing.assert_frame_equal(rows.drop(columns="time_s"), plain.to_dataframe())
    pd.testing.assert_frame_equal(
        timed.by_module().drop(columns=[c for c in timed.by_module() if "time_s" in c or
                                        c == "time_share"]),
        plain.by_module(),
    )  # fmt: skip
    assert timed.total_flops == plain.total_flops


def test_the_time_is_the_kernel_call_and_each_equal_call_has_its_own() -> None:
    x = torch.randn(16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the custom op has no formula
        with OpCounter(timing=True) as counter:
            nap(x, 0.02)
            nap(x, 0.02)  # an equal call: it takes the first one's row
            nap(x, 0.0)
    mode = counter._mode
    assert isinstance(mode, TimedCountingMode)
    rows = counter.to_dataframe()
    naps = rows[rows["op"] == "opcount_test.nap"]
    assert len(naps) == 3
    first, second, third = naps.index
    assert mode.events.row_ids[first] == mode.events.row_ids[second]  # the row was reused
    assert naps.loc[first, "time_s"] >= 0.02
    assert naps.loc[second, "time_s"] >= 0.02
    assert naps.loc[third, "time_s"] < 0.02
    starts, ends = mode.clock.spans()
    # their own spans, one after the other, not one span lent to both
    assert starts[first] < ends[first] <= starts[second] < ends[second]
    assert list(rows["time_s"]) == [(e - s) / 1e9 for s, e in zip(starts, ends)]


def test_by_module_sums_measured_time_per_phase() -> None:
    counter, _ = run(timing=True)
    rows = counter.to_dataframe()
    frame = counter.by_module().set_index("module")
    for module in frame.index:
        own = rows[rows["module"] == module]
        assert frame.loc[module, "self_time_s"] == math.fsum(own["time_s"])
        backward = own[own["phase"] == "backward"]
        assert frame.loc[module, "self_backward_time_s"] == math.fsum(backward["time_s"])
    inside = rows[rows["module"] != "<outside>"]
    assert frame.loc["", "time_s"] == math.fsum(inside["time_s"])
    assert frame.loc["", "time_share"] == math.fsum(inside["time_s"]) / math.fsum(rows["time_s"])
    both = counter.by_module(device="h100-sxm")
    assert {"time_s", "est_time_s", "self_forward_time_s", "forward_est_time_s"} <= set(both)


def test_rows_built_while_counting_grow_with_the_run() -> None:
    x = torch.randn(8)
    with OpCounter(timing=True) as counter:
        torch.exp(x)
        assert len(counter.to_dataframe()["time_s"]) == 1
        torch.exp(x)
    assert len(counter.to_dataframe()["time_s"]) == 2


def _handler_lines(path: Path, cls: str) -> list[str]:
    source = path.read_text()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    handler = next(n for n in node.body if getattr(n, "name", "") == "__torch_dispatch__")
    assert isinstance(handler, ast.FunctionDef)
    return source.splitlines()[handler.lineno - 1 : handler.end_lineno]


def test_the_timed_handler_is_the_default_one_plus_its_timing_lines() -> None:
    """Whoever changes CountingMode.__torch_dispatch__ must make the same change in
    TimedCountingMode's: the two differ only by the lines marked ``# timing``."""
    default = _handler_lines(ENGINE / "mode.py", "CountingMode")
    timed = _handler_lines(ENGINE / "timed_mode.py", "TimedCountingMode")
    assert [line for line in timed if not line.endswith("# timing")] == default
    assert sum(line.endswith("# timing") for line in timed) == 4
    assert "__torch_dispatch__" in CountingMode.__dict__
    assert "__torch_dispatch__" in TimedCountingMode.__dict__


def test_timing_is_off_by_default_and_uses_the_default_handler() -> None:
    with OpCounter() as counter:
        torch.ones(2) + 1
    assert type(counter._mode) is CountingMode
