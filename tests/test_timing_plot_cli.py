"""The roofline chart (data from the rows, a real PNG) and the CLI's time options, run as a real
subprocess."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import pytest
import torch
import torchvision

import trace_format
from opcount import OpCounter
from opcount.timing import ceilings, roofline_frame
from opcount.timing.plot import roofline_points
from opcount.timing.table import format_seconds
from report_models import TinyTransformer

matplotlib.use("Agg")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opcount", *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def counter() -> OpCounter:
    torch.manual_seed(0)
    model = TinyTransformer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(model, timing=True) as c:
            model(torch.randn(2, 5, 8)).sum().backward()
    return c


def test_roofline_points_are_the_rows_with_flops_bytes_and_time(counter: OpCounter) -> None:
    rows = roofline_frame(counter.to_dataframe(), ceilings("h100-sxm"))
    points = roofline_points(rows)
    moved = rows["bytes_read"] + rows["bytes_written"]
    kept = rows[(rows["flops"] > 0) & (moved > 0) & (rows["time_s"] > 0)]
    assert len(points) == len(kept) > 0
    assert list(points["flops_per_s"]) == list(kept["flops"] / kept["time_s"])  # measured
    assert list(points["intensity"]) == list(kept["flops"] / moved[kept.index])
    estimated = roofline_points(rows.drop(columns="time_s"))
    assert set(estimated["time"]) == {"est_time_s"}


def test_plot_roofline_writes_a_png(counter: OpCounter, tmp_path: Path) -> None:
    figure = counter.plot_roofline("h100-sxm")
    figure.savefig(tmp_path / "roofline.png")
    assert (tmp_path / "roofline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    assert "measured" in axes.get_ylabel()
    counter.plot_roofline(peak_flops=1e12, bandwidth=1e11).savefig(tmp_path / "cpu.png")


def test_cli_roofline_prints_the_estimate_per_module() -> None:
    result = run("torchvision:resnet18", "--device", "meta", "--roofline", "h100-sxm")
    assert result.returncode == 0, result.stderr
    model = torchvision.models.resnet18().to("meta").eval()
    with OpCounter(model, warn=False) as c, torch.no_grad():
        model(torch.empty(1, 3, 224, 224, device="meta"))
    seconds = c.estimated_time("h100-sxm")
    assert f"roofline on h100-sxm: estimated {format_seconds(seconds)} in all" in result.stdout
    # one line per module down to --depth (1): the root and its ten children
    table = result.stdout.split("roofline on h100-sxm")[1]
    assert "layer4" in table
    assert "bound" in table
    assert "compute" in table


def test_cli_trace_measured_and_estimated(tmp_path: Path) -> None:
    measured = tmp_path / "measured.json"
    result = run("torchvision:resnet18", "--timing", "--trace", str(measured), "--quiet")
    assert result.returncode == 0, result.stderr
    document = trace_format.load(measured)
    assert document["otherData"]["timestamps"].startswith("measured")
    estimated = tmp_path / "estimated.json"
    result = run(
        "torchvision:resnet18", "--device", "meta", "--trace", str(estimated),
        "--device-spec", "a100-sxm-80gb", "--quiet",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = trace_format.load(estimated)
    assert document["otherData"]["device"] == "a100-sxm-80gb"
    ops = [e for e in document["traceEvents"] if e.get("cat") == "op"]
    assert ops
    assert all("est_time_s" in e["args"] for e in ops)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "x.json"], "--trace needs times"),
        (["--roofline", "h999"], "--roofline 'h999'"),
        (["--device-spec", "tpu"], "--device-spec 'tpu'"),
    ],
)
def test_cli_time_options_refuse_bad_values(args: list[str], message: str) -> None:
    result = run("torchvision:resnet18", "--device", "meta", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_cli_time_options_are_for_one_model() -> None:
    result = run("torchvision:resnet18", "torchvision:alexnet", "--roofline", "h100-sxm")
    assert result.returncode == 2
    assert "give one MODEL" in result.stderr
