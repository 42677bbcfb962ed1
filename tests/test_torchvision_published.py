"""torchvision's published figures: ``weights.meta["_ops"]`` is GMACs of conv, matmul and
attention at the weights' crop size. opcount must give exactly that, to the 3 decimals
published, in grad mode, under no_grad and under inference_mode, on CPU and on meta."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import torch
from torchvision.models import get_model, get_model_weights

from opcount import OpCounter

MODELS = [
    "resnet18",
    "resnet50",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "inception_v3",
    "vit_b_16",
    "swin_t",
]
MODES: dict[str, Callable[[], AbstractContextManager[None]]] = {
    "grad": torch.enable_grad,
    "no_grad": torch.no_grad,
    "inference_mode": torch.inference_mode,
}


def published(name: str) -> tuple[float, int, int]:
    """(GMACs, parameters, crop size) of the model's default weights."""
    weights = get_model_weights(name).DEFAULT
    crop = weights.transforms().crop_size[0]
    return weights.meta["_ops"], weights.meta["num_params"], crop


def build(name: str, device: str = "cpu") -> torch.nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inception's init FutureWarning
        with torch.device(device):
            return get_model(name, weights=None).eval()


@pytest.mark.parametrize("name", MODELS)
def test_published_gmacs_and_params_on_cpu(name: str) -> None:
    gmacs, params, crop = published(name)
    model = build(name)
    x = torch.randn(1, 3, crop, crop)
    for mode_name, mode in MODES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mode(), OpCounter(model) as counter:
                model(x)
        assert round(counter.total_macs / 1e9, 3) == gmacs, mode_name
        assert counter.num_params == params


@pytest.mark.parametrize("name", ["resnet50", "vit_b_16"])
def test_published_gmacs_on_meta(name: str) -> None:
    gmacs, params, crop = published(name)
    model = build(name, "meta")
    x = torch.empty(1, 3, crop, crop, device="meta")
    for mode_name, mode in MODES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mode(), OpCounter(model) as counter:
                model(x)
        assert round(counter.total_macs / 1e9, 3) == gmacs, mode_name
        assert set(counter.to_dataframe()["device"]) == {"meta"}
    assert counter.num_params == params


def test_meta_and_cpu_rows_agree_exactly() -> None:
    cpu, meta = build("resnet18"), build("resnet18", "meta")
    x_cpu, x_meta = torch.randn(2, 3, 64, 64), torch.empty(2, 3, 64, 64, device="meta")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter() as on_cpu:
            cpu(x_cpu)
        with OpCounter() as on_meta:
            meta(x_meta)
    # bytes are left out: torch's meta kernels may allocate outputs the CPU kernel leaves
    # empty (eval-mode native_batch_norm returns [C] saved statistics on meta, [0] on CPU)
    columns = ["op", "flops", "macs", "module", "phase", "shapes"]
    assert on_cpu.to_dataframe()[columns].equals(on_meta.to_dataframe()[columns])
