"""The opcount command, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from torchvision.models import ResNet18_Weights

from opcount import read_csv


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opcount", *args], capture_output=True, text=True, timeout=300
    )


def test_counts_a_torchvision_model_and_writes_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    result = run("torchvision:resnet18", "--csv", str(path))
    assert result.returncode == 0, result.stderr
    gmacs = ResNet18_Weights.DEFAULT.meta["_ops"]
    assert f"{gmacs:.3f} GMACs" in result.stdout
    assert "parameters: 11.69M" in result.stdout
    assert "layer1" in result.stdout
    rows = read_csv(path)
    assert round(rows["macs"].sum() / 1e9, 3) == gmacs
    assert set(rows["phase"]) == {"forward"}
    assert f"wrote {len(rows)} rows" in result.stdout


def test_uses_the_crop_size_of_the_published_weights() -> None:
    result = run("torchvision:inception_v3")
    assert result.returncode == 0, result.stderr
    assert "input [1, 3, 299, 299]" in result.stdout


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("torchvision:resnet5", "unknown torchvision model 'resnet5'. Did you mean: resnet50"),
        ("resnet50", "must look like torchvision:NAME"),
        ("hub:resnet50", "unknown model source 'hub'"),
    ],
)
def test_bad_models_exit_2_with_one_line(model: str, message: str) -> None:
    result = run(model)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        ["opcount", "--help"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0
    assert "torchvision:resnet50" in result.stdout
