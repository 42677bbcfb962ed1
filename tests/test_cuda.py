"""CUDA: the same counts as on CPU, the published figures on the GPU, every SDPA backend and the
CUDA-only kernels (cuDNN RNN, fused optimizers, fp8 ``_scaled_mm``) counted exactly.

Skipped cleanly without a GPU (CI has none); run on a GPU machine with ``pytest -m cuda``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torchvision.models import get_model

from helpers import count
from opcount import OpCounter
from test_torchvision_published import MODELS, build, published

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

FUSED_BACKENDS = [
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.CUDNN_ATTENTION,
]


def costs(counter: OpCounter) -> tuple[int, int]:
    return counter.total_flops, counter.total_macs


def unsupported(counter: OpCounter) -> list[str]:
    frame = counter.to_dataframe()
    return sorted(set(frame.op[frame.status == "unsupported"]))


def phase_macs(counter: OpCounter) -> dict[str, int]:
    return {row.phase: int(row.macs) for row in counter.by_phase().itertuples()}


def category_flops(counter: OpCounter) -> dict[tuple[str, str], int]:
    frame = counter.to_dataframe()
    sums = frame.groupby(["phase", "category"]).flops.sum()
    return {key: int(flops) for key, flops in sums.items() if flops}


def per_op(counter: OpCounter) -> str:
    frame = counter.to_dataframe()
    return frame.groupby(["phase", "op"])[["flops", "macs", "bytes_written"]].sum().to_string()


def forward_counter(model: nn.Module, x: torch.Tensor) -> OpCounter:
    return count(lambda: model(x))


def train_counter(model: nn.Module, x: torch.Tensor) -> OpCounter:
    return count(lambda: model(x).sum().backward())


@pytest.mark.parametrize("name", ["resnet50", "vit_b_16"])
def test_cuda_counts_equal_cpu(name: str) -> None:
    model = get_model(name, weights=None).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        cpu = forward_counter(model, x)
        gpu = forward_counter(model.cuda(), x.cuda())
    assert costs(gpu) == costs(cpu)
    assert unsupported(gpu) == []


@pytest.mark.parametrize("name", MODELS)
def test_published_gmacs_on_cuda(name: str) -> None:
    gmacs, _, crop = published(name)
    model = build(name, "cuda")
    x = torch.randn(1, 3, crop, crop, device="cuda")
    with torch.inference_mode():
        counter = forward_counter(model, x)
    assert round(counter.total_macs / 1e9, 3) == gmacs
    assert unsupported(counter) == []


def test_training_step_equals_cpu() -> None:
    """cuDNN batch norm and convolution backward count what the CPU kernels count."""
    model = get_model("resnet18", weights=None).train()
    x = torch.randn(2, 3, 64, 64)
    cpu = train_counter(model, x)
    # else the second backward adds into the first one's .grad: one add_ per parameter element
    model.zero_grad(set_to_none=True)
    gpu = train_counter(model.cuda(), x.cuda())
    assert unsupported(gpu) == []
    for counter in (cpu, gpu):  # shown when the test fails
        print(per_op(counter))
    assert phase_macs(gpu) == phase_macs(cpu)
    assert category_flops(gpu) == category_flops(cpu)


def sdpa_inputs(grad: bool) -> tuple[torch.Tensor, ...]:
    b, h, s, d = 2, 8, 128, 64
    return tuple(
        torch.randn(b, h, s, d, device="cuda", dtype=torch.float16, requires_grad=grad)
        for _ in range(3)
    )


def run_or_skip(backend: SDPBackend, fn: Callable[[], Any]) -> None:
    try:
        with sdpa_kernel(backend):
            fn()
    except RuntimeError as error:
        pytest.skip(f"{backend} is not available on this GPU: {error}")


@pytest.mark.parametrize("backend", [SDPBackend.MATH, *FUSED_BACKENDS])
def test_every_sdpa_backend_gives_the_same_forward_macs(backend: SDPBackend) -> None:
    q, k, v = sdpa_inputs(grad=False)
    run_or_skip(backend, lambda: F.scaled_dot_product_attention(q, k, v))
    with sdpa_kernel(backend), OpCounter(warn=False) as counter:
        F.scaled_dot_product_attention(q, k, v)
    b, h, s, d = q.shape
    assert counter.total_macs == 2 * b * h * s * s * d  # q @ k^T and p @ v


@pytest.mark.parametrize("backend", FUSED_BACKENDS)
def test_fused_sdpa_backward_recomputes_the_scores(backend: SDPBackend) -> None:
    q, k, v = sdpa_inputs(grad=True)
    run_or_skip(backend, lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    with sdpa_kernel(backend), OpCounter(warn=False) as counter:
        F.scaled_dot_product_attention(q, k, v).sum().backward()
    b, h, s, d = q.shape
    # forward q k^T, p v; backward s = q k^T again, then dv = p^T do, dp = do v^T, dq = ds k,
    # dk = ds^T q
    assert phase_macs(counter) == {
        "forward": 2 * b * h * s * s * d,
        "backward": 5 * b * h * s * s * d,
    }
    assert unsupported(counter) == []


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU])
def test_cudnn_rnn_counts_what_the_cpu_counts(kind: type[nn.RNNBase]) -> None:
    model = kind(32, 48, num_layers=2, bidirectional=True)
    x = torch.randn(10, 3, 32)
    with torch.no_grad():
        cpu = forward_counter(model, x)
        gpu = forward_counter(model.cuda(), x.cuda())
    assert "aten._cudnn_rnn" in set(gpu.to_dataframe().op)
    assert gpu.total_macs == cpu.total_macs
    assert unsupported(gpu) == []
    backward = count(lambda: model(x.cuda())[0].sum().backward())
    assert unsupported(backward) == []


@pytest.mark.parametrize("flavour", ["foreach", "fused"])
def test_cuda_optimizer_step_equals_cpu(flavour: str) -> None:
    def step_flops(device: str) -> int:
        layer = nn.Linear(64, 32, device=device)
        optimizer = torch.optim.AdamW(layer.parameters(), **{flavour: True})
        layer(torch.randn(4, 64, device=device)).sum().backward()
        counter = count(optimizer.step)
        assert unsupported(counter) == []
        return int(counter.by_category().set_index("category").loc["optimizer", "flops"])

    assert step_flops("cuda") == step_flops("cpu")


def test_autocast_keeps_the_products() -> None:
    """bf16 autocast changes dtypes, not the products: same MACs, and every op counted."""
    model = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(128, 4, 256, batch_first=True, dropout=0.0), 2
    ).cuda()
    x = torch.randn(4, 32, 128, device="cuda")
    plain = train_counter(model, x)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        mixed = count(lambda: model(x).float().sum().backward())
    assert unsupported(mixed) == []
    assert mixed.total_macs == plain.total_macs
    assert "bfloat16" in set(mixed.to_dataframe().dtype.astype(str))


def test_device_copies_move_bytes() -> None:
    x = torch.randn(1000, 3)
    counter = count(lambda: x.cuda().cpu())
    frame = counter.to_dataframe()
    assert frame.bytes_read.sum() == 2 * x.nbytes
    assert frame.bytes_written.sum() == 2 * x.nbytes
    assert counter.total_flops == 0


def test_fp8_scaled_mm() -> None:
    if torch.cuda.get_device_capability() < (8, 9):
        pytest.skip("fp8 matrix products need compute capability 8.9 or later")
    m, k, n = 64, 128, 96
    a = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
    b = torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn).t()  # column-major
    one = torch.tensor(1.0, device="cuda")
    counter = count(lambda: torch._scaled_mm(a, b, one, one, out_dtype=torch.bfloat16))
    row = counter.to_dataframe().set_index("op").loc["aten._scaled_mm"]
    assert row.macs == m * n * k
    assert row.bytes_read >= m * k + k * n  # one byte per fp8 element


def test_cli_on_cuda() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "opcount", "torchvision:resnet50", "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "4.089" in result.stdout


def test_step_meter_bf16_training_loop() -> None:
    # a bf16 training loop measured with the device's own peak: MFU is a fraction, and the model
    # FLOPs equal those of the same step on CPU (model FLOPs leave the in-kernel recompute of
    # the CUDA and CPU fused attention backends out, whichever ran)
    import copy

    from opcount import StepMeter
    from test_training_step import GPT, Config, gpt_model_flops

    c = Config(vocab=512, block=128, layers=4, heads=8, width=256, batch=8, tied=False)
    torch.manual_seed(0)
    cpu_model = GPT(c).to(torch.bfloat16)
    model = copy.deepcopy(cpu_model).cuda()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    cpu_optimizer = torch.optim.AdamW(cpu_model.parameters(), lr=1e-4)
    idx = torch.randint(c.vocab, (c.batch, c.block))
    targets = torch.randint(c.vocab, (c.batch, c.block))
    meter = StepMeter(model, peak="auto")
    for _ in range(6):
        with meter.step(tokens=idx.numel()):
            model(idx.cuda(), targets.cuda()).backward()
            optimizer.step()
            optimizer.zero_grad()
    steps = meter.steps
    assert steps["counted"].tolist() == [True] + [False] * 5
    assert steps["matmul_dtype"].iloc[0] == "bfloat16"
    assert meter.mfu is not None
    assert 0 < meter.mfu < 1
    assert 0 < meter.last.hfu < 1  # type: ignore[operator]
    with OpCounter(cpu_model) as cpu:
        cpu_model(idx, targets).backward()
        cpu_optimizer.step()
    assert int(steps["model_flops"].iloc[0]) == cpu.model_flops == gpt_model_flops(c)
