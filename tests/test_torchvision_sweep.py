"""Every torchvision classification model, forward and backward, counted without a gap.

For each model of ``torchvision.models.list_models(module=torchvision.models)`` at its default
weights' crop size, on ``meta`` tensors (no data, no compute):

- forward at batch 1 (eval mode): the matmul/conv/attention MACs equal torchvision's published
  ``weights.meta["_ops"]`` GMACs to the 3 decimals published;
- forward and backward at batch 2 (train mode): zero unsupported ops, backward rows present,
  no tracking problem.

Models are built on ``meta`` with ``torch.device("meta")``, except those in
:data:`CPU_CONSTRUCTED`, whose constructors need real values: they are built on CPU and moved
to ``meta`` before running. A fast subset runs in CI; the rest is marked slow.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torchvision
from torch.utils._pytree import tree_flatten
from torchvision.models import get_model, get_model_weights, list_models

from opcount import OpCounter

MODELS = list_models(module=torchvision.models)

FAST = (
    "resnet18",
    "mobilenet_v3_small",
    "googlenet",  # auxiliary outputs in train mode
    "shufflenet_v2_x0_5",
    "vit_b_32",
    "swin_t",
    "regnet_x_400mf",  # built on CPU
)

CPU_CONSTRUCTED = {
    # RegNet's constructor computes its block widths from tensor values (a meta tensor has
    # none: "Cannot copy out of meta tensor"); built on CPU, then moved to meta
    name
    for name in MODELS
    if name.startswith("regnet_")
}


def build(name: str) -> tuple[torch.nn.Module, int, float]:
    """The model on meta, its weights' crop size and published GMACs."""
    weights = get_model_weights(name).DEFAULT
    crop = int(weights.transforms().crop_size[0])
    # ViT's position embedding is sized for its image; the default weights of vit_h_14 are
    # for 518 px, not the builder's default 224
    kwargs: dict[str, Any] = {"image_size": crop} if name.startswith("vit_") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # inception/googlenet init FutureWarnings
        if name in CPU_CONSTRUCTED:
            model = get_model(name, weights=None, **kwargs).to("meta")
        else:
            with torch.device("meta"):
                model = get_model(name, weights=None, **kwargs)
    return model, crop, float(weights.meta["_ops"])


def outputs_sum(out: Any) -> torch.Tensor:
    """The sum of every tensor a model returned (train-mode auxiliary outputs included)."""
    tensors = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
    return torch.stack([t.sum() for t in tensors]).sum()


def check_model(name: str) -> None:
    model, crop, gmacs = build(name)
    assert all(p.device.type == "meta" for p in model.parameters())

    model.eval()
    with OpCounter(model, warn=False) as forward:
        model(torch.empty(1, 3, crop, crop, device="meta"))
    assert round(forward.total_macs / 1e9, 3) == gmacs
    assert forward.complete, forward.unsupported_ops()

    model.train()
    with OpCounter(model, warn=False) as step:
        outputs_sum(model(torch.empty(2, 3, crop, crop, device="meta"))).backward()
    unsupported = step.unsupported_ops()
    assert unsupported.empty, unsupported[["op", "calls", "reason"]].to_string()
    rows = step.to_dataframe()
    assert set(rows["phase"]) == {"forward", "backward"}
    assert set(rows["device"]) == {"meta"}
    assert not step.tracking_problems, step.tracking_problems


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in MODELS]
)
def test_model_counted_in_full(name: str) -> None:
    check_model(name)


def test_fast_subset_is_real() -> None:
    assert set(FAST) <= set(MODELS)
    assert len(MODELS) >= 80  # torchvision 0.29's classification models
