"""Time on CUDA: per-op times from events (no synchronize per op) within the synchronized wall
time, and the roofline of the device the run is on (``"auto"``).

Skipped cleanly without a GPU; scripts/cuda_check.sh runs it on a GPU machine.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import trace_format
from opcount import OpCounter, peak_flops
from opcount.devices import device_spec

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(1024, 4096), nn.GELU(), nn.Linear(4096, 1024), nn.LayerNorm(1024)
    ).cuda()


def test_cuda_times_are_events_within_the_synchronized_wall_time(tmp_path: Path) -> None:
    net = model()
    x = torch.randn(64, 1024, device="cuda")
    net(x).sum().backward()  # warm up: kernels loaded, allocator primed
    torch.cuda.synchronize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        counter = OpCounter(net, timing=True)
        start = time.perf_counter()
        with counter:
            net(x).sum().backward()
        torch.cuda.synchronize()
        wall = time.perf_counter() - start
    rows = counter.to_dataframe()
    assert set(rows["device"]) == {"cuda:0"}
    times = rows["time_s"]
    assert (times >= 0).all()
    heavy = rows[rows["op"].isin(["aten.addmm", "aten.mm"])]
    assert (heavy["time_s"] > 0).all()
    assert math.fsum(times) <= wall
    counter.to_chrome_trace(tmp_path / "cuda.json")
    document = trace_format.load(tmp_path / "cuda.json")
    assert "CUDA events" in document["otherData"]["timestamps"]


def test_cuda_counts_are_those_of_an_untimed_run() -> None:
    net = model()
    x = torch.randn(64, 1024, device="cuda")
    with OpCounter(timing=True) as timed:
        net(x).sum().backward()
    with OpCounter() as plain:
        net(x).sum().backward()
    frame = timed.to_dataframe().drop(columns="time_s")
    assert frame.equals(plain.to_dataframe())


def test_roofline_for_the_auto_device() -> None:
    spec = device_spec("auto")  # the table's entry for this GPU
    a = torch.randn(2048, 2048, device="cuda", dtype=torch.bfloat16)
    with OpCounter() as counter:
        torch.mm(a, a)
    row = counter.roofline("auto").iloc[0]
    assert row["est_time_s"] == max(
        2 * 2048**3 / peak_flops(spec, "bfloat16"), 3 * 2048**2 * 2 / spec.bandwidth
    )
    assert counter.estimated_time("auto") == counter.estimated_time(spec.name)
