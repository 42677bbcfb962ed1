"""CUDA: the same counts as on CPU, and every SDPA backend gives the same forward MACs.

Skipped cleanly without a GPU (CI has none); run on a GPU machine with ``pytest -m cuda``.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torchvision.models import get_model

from opcount import OpCounter

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def macs_on(model: torch.nn.Module, x: torch.Tensor) -> tuple[int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.no_grad(), OpCounter() as counter:
            model(x)
    return counter.total_macs, len(counter.to_dataframe())


@pytest.mark.parametrize("name", ["resnet50", "vit_b_16"])
def test_cuda_counts_equal_cpu(name: str) -> None:
    model = get_model(name, weights=None).eval()
    x = torch.randn(2, 3, 224, 224)
    cpu_macs, _ = macs_on(model, x)
    cuda_macs, _ = macs_on(model.cuda(), x.cuda())
    assert cuda_macs == cpu_macs


@pytest.mark.parametrize(
    "backend",
    [
        SDPBackend.MATH,
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
        SDPBackend.CUDNN_ATTENTION,
    ],
)
def test_every_sdpa_backend_gives_the_same_forward_macs(backend: SDPBackend) -> None:
    b, h, s, d = 2, 8, 128, 64
    q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.float16) for _ in range(3))
    try:
        with sdpa_kernel(backend):
            F.scaled_dot_product_attention(q, k, v)
    except RuntimeError as error:
        pytest.skip(f"{backend} is not available on this GPU: {error}")
    with sdpa_kernel(backend), OpCounter(warn=False) as counter:
        F.scaled_dot_product_attention(q, k, v)
    assert counter.total_macs == 2 * b * h * s * s * d
