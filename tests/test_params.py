"""Parameter counts without running the model: own and inclusive, trainable and frozen, buffers,
bytes by dtype; tied weights counted once and marked; bare parameters, ParameterList, lazy."""

from __future__ import annotations

import torch
from torch import nn

from opcount import count_params, params_by_dtype, params_by_module
from report_models import TiedLM


class Odd(nn.Module):
    """A bare parameter on the root, a ParameterList, a lazy layer, a frozen norm."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 8))
        self.extras = nn.ParameterList([nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2))])
        self.lazy = nn.LazyLinear(4)
        self.norm = nn.BatchNorm1d(8)
        self.norm.requires_grad_(False)
        self.half = nn.Linear(2, 2).to(torch.float16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lazy(self.norm(x) + self.cls_token)


def test_tied_weights_counted_once_and_marked() -> None:
    model = TiedLM(vocab=100, dim=16)
    frame = params_by_module(model).set_index("module")
    distinct = 100 * 16 + 16 * 16
    assert count_params(model) == distinct == sum(p.numel() for p in model.parameters())
    assert frame.loc["", "params"] == distinct
    assert frame["self_params"].sum() == distinct  # own counts add up to the total
    assert frame.loc["embed", "self_params"] == 1600
    assert frame.loc["head", "self_params"] == 0  # held, but first counted at embed
    assert frame.loc["head", "params"] == 1600  # inclusive: the head does hold the weight
    assert frame.loc["head", "shared_params"] == frame.loc["embed", "shared_params"] == 1600
    assert frame.loc["head", "shared_with"] == "embed"
    assert frame.loc["embed", "shared_with"] == "head"
    assert frame.loc["body", "shared_with"] == ""
    assert frame.loc["head", "weight_shape"] == (100, 16)


def test_bare_parameters_lists_lazy_frozen_buffers_and_dtypes() -> None:
    model = Odd()
    frame = params_by_module(model).set_index("module")
    norm = 8 + 8
    half = 2 * 2 + 2
    before = 8 + 3 + 2 + norm + half  # the lazy layer has no size yet
    assert count_params(model) == before
    assert frame.loc["", "self_params"] == 8  # cls_token, a bare nn.Parameter
    assert frame.loc["extras", "params"] == 5
    assert frame.loc["extras", "module_type"] == "ParameterList"
    assert frame.loc["lazy", "params"] == 0
    assert frame.loc["lazy", "uninitialized"] == 2
    assert frame.loc["", "uninitialized"] == 2
    assert frame.loc["", "frozen_params"] == norm
    assert frame.loc["", "trainable_params"] == before - norm
    assert count_params(model, trainable_only=True) == before - norm
    assert frame.loc["norm", "buffers"] == 8 + 8 + 1  # running mean, var, num_batches_tracked
    assert frame.loc["norm", "self_buffers"] == 17
    assert frame.loc["", "buffer_bytes"] == 16 * 4 + 8
    assert frame.loc["half", "param_bytes"] == half * 2

    by_dtype = params_by_dtype(model).set_index("dtype")
    assert by_dtype.loc["float16", "params"] == half
    assert by_dtype.loc["float16", "param_bytes"] == half * 2
    assert by_dtype.loc["float32", "params"] == before - half
    assert by_dtype.loc["int64", "buffers"] == 1
    assert by_dtype.loc["uninitialized", "params"] == 0

    model.eval()
    with torch.no_grad():
        model(torch.randn(3, 8))  # materialises the lazy layer: 8 x 4 + 4
    assert count_params(model) == before + 36
    assert params_by_module(model).set_index("module").loc["lazy", "uninitialized"] == 0


def test_module_reachable_by_two_paths_is_listed_under_both() -> None:
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    frame = params_by_module(model).set_index("module")
    assert frame.loc["0", "self_params"] == 20
    assert frame.loc["2", "self_params"] == 0
    assert frame.loc["2", "shared_with"] == "0"
    assert frame.loc["", "params"] == count_params(model) == 20
