"""The opcount command, run as a real subprocess: every MODEL form, the options, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from torchvision.models import ResNet18_Weights

from opcount import read_csv

DATA = Path(__file__).parent / "data"
MODELS = f"{DATA / 'cli_models.py'}"
sys.path.insert(0, str(DATA))
from cli_models import LLAMA_30B, SEQ, decoder_forward_macs  # noqa: E402


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opcount", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def test_torchvision_model_table_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    result = run("torchvision:resnet18", "--csv", str(path))
    assert result.returncode == 0, result.stderr
    gmacs = ResNet18_Weights.DEFAULT.meta["_ops"]
    assert f"{gmacs:.3f} GMACs" in result.stdout
    assert "11.69M" in result.stdout
    assert "layer1" in result.stdout
    rows = read_csv(path)
    assert round(rows["macs"].sum() / 1e9, 3) == gmacs
    assert set(rows["phase"]) == {"forward"}
    assert f"wrote {len(rows)} rows" in result.stderr


def test_crop_size_of_the_published_weights() -> None:
    result = run("torchvision:inception_v3", "--device", "meta", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "5.713 GMACs" in result.stdout  # torchvision's figure, at 299 x 299


def test_file_callable_with_its_own_inputs_on_meta_30b(tmp_path: Path) -> None:
    # 32.5B parameters: 130 GB if materialised; on meta nothing is allocated
    path = tmp_path / "llama.csv"
    result = run(f"{MODELS}:llama_30b", "--device", "meta", "--csv", str(path), "--quiet")
    assert result.returncode == 0, result.stderr
    rows = read_csv(path)
    assert rows["macs"].sum() == decoder_forward_macs(**LLAMA_30B, batch=1, seq=SEQ)
    assert (rows["status"] != "unsupported").all()


def test_module_callable_several_inputs_int64_and_backward(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    result = run(
        "cli_models:two_inputs",
        "--input",
        "2x3x8x8",
        "--input",
        "2",
        "--backward",
        "--csv",
        str(path),
        cwd=DATA,
    )
    assert result.returncode == 0, result.stderr
    rows = read_csv(path)
    forward = 2 * 4 * 6 * 6 * 3 * 3 * 3  # conv 3->4, 3x3, on 2 x 8 x 8
    assert rows.loc[rows["phase"] == "forward", "macs"].sum() == forward
    assert rows.loc[rows["phase"] == "backward", "macs"].sum() == forward  # weight grad only
    tokens = run(f"{MODELS}:tiny_decoder", "--input", "3x5:int64", "--by", "op")
    assert tokens.returncode == 0, tokens.stderr
    assert "aten.mm" in tokens.stdout


def test_batch_and_dtype_options() -> None:
    result = run(
        "torchvision:resnet18", "--device", "meta", "--batch", "4", "--dtype", "bfloat16", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    gmacs = ResNet18_Weights.DEFAULT.meta["_ops"]
    assert f"{4 * gmacs:.3f} GMACs" in result.stdout


def test_sweep_matches_published_figures(tmp_path: Path) -> None:
    path = tmp_path / "sweep.csv"
    names = ["resnet18", "mobilenet_v3_small", "vit_b_16", "regnet_x_400mf"]
    result = run(*(f"torchvision:{n}" for n in names), "--device", "meta", "--csv", str(path))
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(path)
    assert list(table["model"]) == [f"torchvision:{n}" for n in names]
    for macs, published in zip(table["forward_macs"], table["published_gmacs"]):
        assert round(macs / 1e9, 3) == published


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["torchvision:resnet5"], 2, "unknown torchvision model 'resnet5'. Did you mean: resnet50"),
        (["resnet50"], 2, "must look like torchvision:NAME"),
        (["timm:resnet50"], 2, "timm is not installed; install it with: pip install timm"),
        (["torchvision:resnet18", "--input", "1xAx3"], 2, "--input '1xAx3' is not a shape"),
        (["torchvision:resnet18", "--device", "tpu"], 2, "--device 'tpu': choose one of"),
        (["torchvision:resnet18", "--by", "layer"], 2, "--by 'layer': choose one of"),
        (["torchvision:resnet18", "--bogus"], 2, "unrecognized arguments: --bogus"),
        ([f"{MODELS}:not_a_model"], 2, "returned int; it must return an nn.Module"),
        ([f"{MODELS}:two_inputs"], 2, "returned no inputs; pass --input"),
        ([f"{MODELS}:broken"], 1, "the model failed in module 'faulty.1': RuntimeError"),
        (
            ["torchvision:resnet18", "--input", "1x3x224x224", "--input", "2"],
            2,
            "torchvision:resnet18: ResNet.forward(x) takes 1 input, but 2 --inputs given",
        ),
        (
            [f"{MODELS}:two_inputs", "--input", "1x4"],
            2,
            "two_inputs: TwoInputs.forward(x, scale) takes 2 inputs, but 1 --input given",
        ),
        (
            ["torchvision:raft_small", "--device", "meta", "--input", "1x3x64x64"],
            2,
            "RAFT.forward(image1, image2, num_flow_updates=...) takes 2 to 3 inputs, but 1",
        ),
    ],
)
def test_exit_codes_and_one_line_messages(args: list[str], status: int, message: str) -> None:
    if args[0].startswith("timm:"):
        pytest.importorskip("pytest")  # always present; the check below needs timm absent
        try:
            import timm  # noqa: F401

            pytest.skip("timm is installed here")
        except ImportError:
            pass
    result = run(*args)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_list_models_and_console_script() -> None:
    listed = run("--list-models", "resnet")
    assert listed.returncode == 0
    assert "torchvision:resnet50" in listed.stdout.split()
    result = subprocess.run(["opcount", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "torchvision:resnet50" in result.stdout


def test_optimizer_counts_a_whole_training_step(tmp_path: Path) -> None:
    path = tmp_path / "step.csv"
    result = run("torchvision:resnet18", "--optimizer", "sgd", "--batch", "2", "--csv", str(path))
    assert result.returncode == 0, result.stderr
    assert "forward + backward + sgd step, train mode" in result.stdout
    rows = read_csv(path)
    assert set(rows["phase"]) == {"forward", "backward", "optimizer"}
    step = rows[rows["phase"] == "optimizer"]
    assert set(step["module"]) == {"<optimizer>"}
    assert set(step["module_type"]) == {"SGD"}
    header = next(line for line in result.stdout.splitlines() if line.startswith("module "))
    assert "optim FLOPs" in header  # the table's optimizer column
    model_flops = 2 * int(rows.loc[rows["phase"] != "optimizer", "macs"].sum())  # no recompute
    assert f"model FLOPs: {model_flops / 1e9:.3f} GFLOPs (MFU)" in result.stdout
    assert run("torchvision:resnet18", "--optimizer", "lion").returncode == 2


def test_arity_accepts_defaults_and_varargs() -> None:
    from opcount.cli.arity import arity_problem

    class Varargs(torch.nn.Module):
        def forward(self, x: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
            return x

    assert arity_problem("m", Varargs(), 5) is None
    assert arity_problem("m", Varargs(), 0) == (
        "m: Varargs.forward(x, *rest) takes at least 1 input, but 0 --inputs given"
    )
    assert arity_problem("m", torch.nn.Bilinear(2, 2, 2), 2) is None
