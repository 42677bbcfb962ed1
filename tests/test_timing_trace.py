"""The Trace Event Format export: a strict reading of the file, ops inside their module's slice,
module slices nesting as the call tree, args carrying the rows' costs, measured or estimated
timestamps."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import trace_format
from opcount import OpCounter, OpCountError
from opcount.timing.trace import back_to_back
from report_models import TinyTransformer


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(8, 8)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.inner(x)) + x


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), Block(), Block(), nn.LayerNorm(8))


def counted(timing: bool) -> OpCounter:
    net = model()
    shared = net[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(net, timing=timing) as counter:
            y = net(torch.randn(4, 8))
            y = shared(y)  # a second call of one module: a slice of its own
            y.sum().backward()
    return counter


def ns(value: float) -> int:
    """A trace timestamp (microseconds with three decimals) back to whole nanoseconds."""
    return round(value * 1000)


def slices(document: dict[str, Any], cat: str) -> list[dict[str, Any]]:
    return [e for e in document["traceEvents"] if e["ph"] == "X" and e["cat"] == cat]


def span(event: dict[str, Any]) -> tuple[int, int]:
    return ns(event["ts"]), ns(event["ts"]) + ns(event["dur"])


def contains(outer: dict[str, Any], inner: dict[str, Any]) -> bool:
    """Whether ``inner`` lies in ``outer``, both half-open as a viewer draws them (a slice
    ends where the next begins)."""
    (start, end), (first, last) = span(outer), span(inner)
    return start <= first and last <= end and first < end


def innermost(around: list[dict[str, Any]]) -> dict[str, Any]:
    """Of nested slices, the innermost: the last to start, then the first to end."""
    return max(around, key=lambda m: (span(m)[0], -span(m)[1]))


def check_geometry(document: dict[str, Any], counter: OpCounter) -> None:
    rows = counter.to_dataframe()
    modules, ops = slices(document, "module"), slices(document, "op")
    assert len(ops) == len(rows)
    assert [op["args"]["seq"] for op in ops] == list(rows["seq"])
    assert [op["args"]["flops"] for op in ops] == list(rows["flops"])
    assert [op["args"]["macs"] for op in ops] == list(rows["macs"])
    assert [op["args"]["bytes_read"] for op in ops] == list(rows["bytes_read"])
    assert [op["args"]["shapes"] for op in ops] == list(rows["shapes"])
    tracks = {e["tid"]: e["args"]["name"] for e in document["traceEvents"]
              if e["ph"] == "M" and e["name"] == "thread_name"}  # fmt: skip
    assert [tracks[op["tid"]] for op in ops] == list(rows["phase"])
    for op in ops:
        if op["args"]["module"].startswith("<"):
            continue  # outside every module: no module slice
        around = [m for m in modules if m["tid"] == op["tid"] and contains(m, op)]
        # the innermost slice around it is its module's
        assert innermost(around)["args"]["module"] == op["args"]["module"], op
    # each module slice sits right inside the slice of the module call it was called from
    assert counter._mode is not None
    tracker = counter._mode.tracker
    frames, parents = tracker.frames, tracker.parent_frames()
    caller: dict[tuple[str, int, int], str | None] = {}
    for frame, (fqn, _type, call, phase) in enumerate(frames):
        parent = parents[frame]
        same_phase = parent >= 0 and frames[parent][3] == phase
        caller[(fqn, call, phase)] = frames[parent][0] if same_phase else None
    recompute_tid = 1 + ["forward", "backward", "recompute"].index("recompute")
    for inner in modules:
        phase = 2 if inner["tid"] == recompute_tid else 0  # backward ops run in forward calls
        expected = caller[(inner["args"]["module"], inner["args"]["call"], phase)]
        around = [m for m in modules if m is not inner and m["tid"] == inner["tid"]
                  and contains(m, inner)]  # fmt: skip
        if expected is None:
            assert around == [], inner
        else:
            assert innermost(around)["args"]["module"] == expected, inner


def test_estimated_trace_is_valid_and_nests_as_the_module_tree(tmp_path: Path) -> None:
    counter = counted(timing=False)
    path = tmp_path / "run.json"
    counter.to_chrome_trace(path, "h100-sxm")
    document = trace_format.load(path)
    check_geometry(document, counter)
    assert document["otherData"]["device"] == "h100-sxm"
    assert document["otherData"]["timestamps"].startswith("estimated")
    # ops back to back: each starts where the one before ended, taking its estimate
    estimate = counter.roofline("h100-sxm")
    starts, ends = back_to_back(estimate["est_time_s"].tolist())
    ops = slices(document, "op")
    assert [ns(op["ts"]) for op in ops] == starts
    assert [ns(op["ts"]) + ns(op["dur"]) for op in ops] == ends
    assert all(ns(op["dur"]) >= 1 for op in ops)
    assert [op["args"]["est_time_s"] for op in ops] == list(estimate["est_time_s"])
    # the shared block's second call is its own slice
    blocks = [m for m in slices(document, "module") if m["name"] == "1" and m["tid"] == 1]
    assert [m["args"]["call"] for m in blocks] == [0, 1]


def test_measured_trace_uses_the_ops_own_times(tmp_path: Path) -> None:
    counter = counted(timing=True)
    path = tmp_path / "run.json"
    counter.to_chrome_trace(path)
    document = trace_format.load(path)
    check_geometry(document, counter)
    assert document["otherData"]["timestamps"].startswith("measured")
    assert "device" not in document["otherData"]
    rows = counter.to_dataframe()
    ops = slices(document, "op")
    assert [ns(op["dur"]) for op in ops] == [round(t * 1e9) for t in rows["time_s"]]
    assert [op["args"]["time_s"] for op in ops] == list(rows["time_s"])
    starts = [ns(op["ts"]) for op in ops]
    assert starts[0] == 0
    assert starts == sorted(starts)  # in the order they ran
    # with a device as well, the estimate rides along in the args
    counter.to_chrome_trace(path, "a100-sxm-80gb")
    document = trace_format.load(path)
    assert [op["args"]["est_time_s"] for op in slices(document, "op")] == list(
        counter.roofline("a100-sxm-80gb")["est_time_s"]
    )


def test_a_model_with_recompute_and_outside_ops(tmp_path: Path) -> None:
    net = TinyTransformer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(net) as counter:
            net(torch.randn(2, 5, 8)).sum().backward()
    path = tmp_path / "tiny.json"
    counter.to_chrome_trace(path, peak_flops=1e12, bandwidth=1e11)
    document = trace_format.load(path)
    check_geometry(document, counter)
    assert document["otherData"]["device"] == "custom"


def test_the_schema_check_refuses_broken_traces() -> None:
    good = {"traceEvents": [{"ph": "X", "name": "a", "cat": "op", "ts": 0, "dur": 5,
                             "pid": 1, "tid": 1}]}  # fmt: skip
    trace_format.check(good)
    overlap = {"traceEvents": [
        {"ph": "X", "name": "a", "cat": "m", "ts": 0, "dur": 5, "pid": 1, "tid": 1},
        {"ph": "X", "name": "b", "cat": "m", "ts": 3, "dur": 5, "pid": 1, "tid": 1},
    ]}  # fmt: skip
    with pytest.raises(AssertionError, match="without nesting"):
        trace_format.check(overlap)
    for broken in (
        [],
        {"traceEvents": [{"ph": "X", "name": "a", "cat": "op", "ts": 0, "pid": 1, "tid": 1}]},
        {"traceEvents": [{"ph": "Q", "pid": 1, "tid": 1}]},
        {"traceEvents": [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {}}]},
        {"traceEvents": [], "displayTimeUnit": "s"},
    ):
        with pytest.raises(AssertionError):
            trace_format.check(broken)


def test_a_trace_needs_measured_times_or_a_device(tmp_path: Path) -> None:
    counter = counted(timing=False)
    with pytest.raises(OpCountError, match="timing=True"):
        counter.to_chrome_trace(tmp_path / "x.json")
    with pytest.raises(OpCountError, match="h999"):
        counter.to_chrome_trace(tmp_path / "x.json", "h999")


def test_back_to_back_rounds_the_running_sum() -> None:
    # running sums 1, 1.4, 1.8, 2.2 ns round to 1, 1, 2, 2; op i then gets i + 1 ns more
    assert back_to_back([1e-9, 0.4e-9, 0.4e-9, 0.4e-9]) == ([0, 2, 3, 5], [2, 3, 5, 6])
    assert back_to_back([0.0, 0.0]) == ([0, 1], [1, 2])
