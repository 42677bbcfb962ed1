"""Activation formulas, forward and backward, against closed forms: each activation runs once
forward and its backward op once in backward, each costing (elements) x (its cost entry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from helpers import count, only_row, op_rows
from opcount import OpCounter
from opcount.formulas.costs import cost

SHAPE = (4, 6)
N = 4 * 6


def _rows(fn: Callable[[torch.Tensor], torch.Tensor]) -> list[tuple[str, str, int]]:
    """(op, phase, flops) of every counted activation-category row of fn(x).sum().backward()."""
    x = torch.randn(*SHAPE, requires_grad=True)
    frame = count(lambda: fn(x).sum().backward()).to_dataframe()
    frame = frame[frame.category == "activation"]
    return list(zip(frame.op, frame.phase, frame.flops))


@pytest.mark.parametrize(
    ("fn", "forward", "backward"),
    [
        (F.relu, ("aten.relu", "relu"), ("aten.threshold_backward", "relu_backward")),
        (
            lambda x: F.threshold(x, 0.1, 2.0),
            ("aten.threshold", "relu"),
            ("aten.threshold_backward", "relu_backward"),
        ),
        (F.relu6, ("aten.hardtanh", "hardtanh"), ("aten.hardtanh_backward", "hardtanh_backward")),
        (F.gelu, ("aten.gelu", "gelu"), ("aten.gelu_backward", "gelu_backward")),
        (
            lambda x: F.gelu(x, approximate="tanh"),
            ("aten.gelu", "gelu_tanh"),
            ("aten.gelu_backward", "gelu_tanh_backward"),
        ),
        (F.silu, ("aten.silu", "silu"), ("aten.silu_backward", "silu_backward")),
        (torch.sigmoid, ("aten.sigmoid", "sigmoid"), ("aten.sigmoid_backward", "sigmoid_backward")),
        (torch.tanh, ("aten.tanh", "transcendental"), ("aten.tanh_backward", "tanh_backward")),
        (
            F.hardswish,
            ("aten.hardswish", "hardswish"),
            ("aten.hardswish_backward", "hardswish_backward"),
        ),
        (
            F.hardsigmoid,
            ("aten.hardsigmoid", "hardsigmoid"),
            ("aten.hardsigmoid_backward", "hardsigmoid_backward"),
        ),
        (
            F.leaky_relu,
            ("aten.leaky_relu", "leaky_relu"),
            ("aten.leaky_relu_backward", "leaky_relu_backward"),
        ),
        (F.elu, ("aten.elu", "elu"), ("aten.elu_backward", "elu_backward")),
        (F.celu, ("aten.celu", "elu"), ("aten.elu_backward", "elu_backward")),
        (F.selu, ("aten.elu", "elu"), ("aten.elu_backward", "elu_backward")),  # selu is elu
        (
            F.softplus,
            ("aten.softplus", "softplus"),
            ("aten.softplus_backward", "softplus_backward"),
        ),
        (
            F.logsigmoid,
            ("aten.log_sigmoid_forward", "log_sigmoid"),
            ("aten.log_sigmoid_backward", "log_sigmoid_backward"),
        ),
        (
            F.hardshrink,
            ("aten.hardshrink", "hardshrink"),
            ("aten.hardshrink_backward", "hardshrink"),
        ),
        (
            F.softshrink,
            ("aten.softshrink", "softshrink"),
            ("aten.softshrink_backward", "hardshrink"),
        ),
        (
            lambda x: F.rrelu(x, training=False),
            ("aten.rrelu_with_noise", "leaky_relu"),
            ("aten.rrelu_with_noise_backward", "leaky_relu_backward"),
        ),
    ],
)
def test_activation_forward_and_backward(
    fn: Callable[[torch.Tensor], Any], forward: tuple[str, str], backward: tuple[str, str]
) -> None:
    (fwd_op, fwd_cost), (bwd_op, bwd_cost) = forward, backward
    assert _rows(fn) == [
        (fwd_op, "forward", N * cost(fwd_cost)),
        (bwd_op, "backward", N * cost(bwd_cost)),
    ]


def test_glu_counts_per_output_and_per_grad_output_element() -> None:
    # [4, 6] -> a, b = [4, 3] halves; out = a * sigmoid(b) has 12 elements, and so has dy
    assert _rows(F.glu) == [
        ("aten.glu", "forward", 12 * cost("glu")),
        ("aten.glu_backward", "backward", 12 * cost("glu_backward")),
    ]


def test_prelu_kernel_and_its_backward() -> None:
    weight = torch.full((1,), 0.25, requires_grad=True)
    assert _rows(lambda x: F.prelu(x, weight)) == [
        ("aten._prelu_kernel", "forward", N * cost("leaky_relu")),
        ("aten._prelu_kernel_backward", "backward", N * cost("prelu_backward")),
    ]


def test_logit_eps_adds_the_clamp() -> None:
    x = torch.rand(*SHAPE)
    plain = only_row(count(lambda: torch.logit(x)), "aten.logit")
    clamped = only_row(count(lambda: torch.logit(x, eps=1e-3)), "aten.logit")
    assert plain.flops == N * cost("logit")  # log(x / (1 - x))
    assert clamped.flops == N * (cost("logit") + 2 * cost("compare"))  # clamp to [eps, 1 - eps]
    xg = torch.rand(*SHAPE, requires_grad=True)
    backward = only_row(count(lambda: torch.logit(xg).sum().backward()), "aten.logit_backward")
    assert backward.flops == N * cost("logit_backward")


def test_inplace_activations() -> None:
    x = torch.randn(*SHAPE)
    assert only_row(count(lambda: F.relu(x, inplace=True)), "aten.relu_").flops == N * cost("relu")
    row = only_row(count(lambda: F.hardtanh(x, inplace=True)), "aten.hardtanh_")
    assert row.flops == N * cost("hardtanh")
    row = only_row(count(lambda: F.silu(x, inplace=True)), "aten.silu_")
    assert row.flops == N * cost("silu")


def test_mish_forward() -> None:
    # mish's backward is composite (softplus, tanh, sigmoid, ...), counted op by op
    row = only_row(count(lambda: F.mish(torch.randn(*SHAPE))), "aten.mish")
    assert row.flops == N * cost("mish")  # x * tanh(log1p(exp(x)))


def test_gelu_cost_override() -> None:
    x = torch.randn(*SHAPE)
    rows = op_rows(count(lambda: F.gelu(x), costs={"gelu": 8}), "aten.gelu")
    assert list(rows.flops) == [N * 8]


def test_activation_counts_equal_in_grad_no_grad_and_inference_mode() -> None:
    model = torch.nn.Sequential(torch.nn.GELU(), torch.nn.SiLU(), torch.nn.Hardswish())
    x = torch.randn(*SHAPE)
    totals = []
    for mode in (torch.enable_grad, torch.no_grad, torch.inference_mode):
        with mode():
            totals.append(count(lambda: model(x)).total_flops)
    assert totals == [N * (cost("gelu") + cost("silu") + cost("hardswish"))] * 3


def test_mish_backward_runs_its_own_kernel_and_is_counted() -> None:
    # mish_backward has a CompositeImplicitAutograd kernel *and* CPU/CUDA kernels: the counter
    # must let the CPU kernel run (identical gradients) and count it with its own formula
    x = torch.randn(6, requires_grad=True)
    (plain,) = torch.autograd.grad(torch.nn.functional.mish(x).sum(), x)
    with OpCounter(warn=False) as counter:
        (counted,) = torch.autograd.grad(torch.nn.functional.mish(x).sum(), x)
    assert torch.equal(plain, counted)
    rows = counter.to_dataframe()
    row = rows[rows["op"] == "aten.mish_backward"].iloc[0]
    assert (row.status, row.flops) == ("counted", 6 * cost("mish_backward"))
