"""Optimizer steps: foreach and fused Adam/AdamW/SGD/Adagrad count the same closed form per
parameter element, in category optimizer, with nothing unsupported."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
import torch

from helpers import count, only_row
from opcount.formulas.costs import cost

ADD, MUL, DIV, CMP, T = (cost(n) for n in ("add", "mul", "div", "compare", "transcendental"))
PARAMS = 4 * 3 + 3  # nn.Linear(4, 3): weight and bias
TENSORS = 2


def _steps(
    optimizer_class: type[torch.optim.Optimizer], steps: int = 2, **options: Any
) -> list[pd.DataFrame]:
    """The rows of each of ``steps`` optimizer steps on a small linear layer with gradients."""
    layer = torch.nn.Linear(4, 3)
    optimizer = optimizer_class(layer.parameters(), **options)
    layer(torch.randn(2, 4)).sum().backward()
    frames = []
    for _ in range(steps):
        frame = count(optimizer.step).to_dataframe()
        assert (frame.status != "unsupported").all(), list(frame.op[frame.status == "unsupported"])
        frames.append(frame)
    return frames


def _optimizer_flops(frame: pd.DataFrame) -> int:
    # every op of a step is phase and category optimizer (but the profiler markers torch's step
    # wrapper emits just outside the step hooks, free ops); the arithmetic is foreach or fused
    step = frame[~frame.op.str.startswith("profiler.")]
    assert (step.phase == "optimizer").all()
    assert (step.category == "optimizer").all()
    rows = frame[frame.flops > 0]
    assert len(rows) > 0
    assert rows.op.str.startswith(("aten._foreach_", "aten._fused_")).all()
    return int(rows.flops.sum())


# One AdamW update per element: decay p *= 1 - lr wd (1); m = lerp(m, g, 1 - b1) (3);
# v = b2 v (1) + (1 - b2) g g (addcmul with value: 3); sqrt(v) (1) / sqrt(bc2) (1) + eps (1);
# p += -step_size * m / denom (addcdiv with value: 3). The step counters add 1 each.
ADAMW_FOREACH = MUL + (2 * ADD + MUL) + MUL + (2 * MUL + ADD) + T + DIV + ADD + (DIV + ADD + MUL)


@pytest.mark.parametrize("flavour", ["foreach", "fused"])
def test_adamw_step(flavour: str) -> None:
    for frame in _steps(torch.optim.AdamW, **{flavour: True}):
        assert _optimizer_flops(frame) == PARAMS * ADAMW_FOREACH + TENSORS * ADD
    # the fused kernel's cost entry adds up to the same update as the foreach ops
    assert cost("adam") + MUL == ADAMW_FOREACH


def test_fused_adam_options() -> None:
    options = {"fused": True, "amsgrad": True, "weight_decay": 0.1, "maximize": True}
    frame = _steps(torch.optim.Adam, steps=1, **options)[0]
    # L2 decay g += wd p (multiply, add), amsgrad max (compare), maximize g = -g (negate)
    per = cost("adam") + MUL + ADD + CMP + cost("neg")
    assert int(only_row_of(frame, "aten._fused_adam_").flops) == PARAMS * per


@pytest.mark.parametrize("flavour", ["foreach", "fused"])
def test_sgd_momentum_steps(flavour: str) -> None:
    first, second = _steps(torch.optim.SGD, lr=0.1, momentum=0.9, **{flavour: True})
    # first step: the buffer is a copy of g, then p += -lr * g (multiply, add)
    assert _optimizer_flops(first) == PARAMS * (MUL + ADD) == PARAMS * cost("sgd")
    # later steps: b = 0.9 b + g (multiply, add), then p += -lr * b
    assert _optimizer_flops(second) == PARAMS * (2 * MUL + 2 * ADD)
    assert cost("sgd") + cost("sgd_momentum") == 2 * MUL + 2 * ADD


@pytest.mark.parametrize("flavour", ["foreach", "fused"])
def test_sgd_nesterov_weight_decay(flavour: str) -> None:
    options = {"nesterov": True, "weight_decay": 0.01, flavour: True}
    first, second = _steps(torch.optim.SGD, lr=0.1, momentum=0.9, **options)
    decay, nesterov, update = MUL + ADD, MUL + ADD, MUL + ADD  # g + wd p, g + m b, p - lr g
    assert _optimizer_flops(first) == PARAMS * (decay + nesterov + update)
    assert _optimizer_flops(second) == PARAMS * (decay + (MUL + ADD) + nesterov + update)


@pytest.mark.parametrize("flavour", ["foreach", "fused"])
def test_adagrad_step(flavour: str) -> None:
    frame = _steps(torch.optim.Adagrad, steps=1, **{flavour: True})[0]
    # s += g g (2), sqrt(s) + eps (2), p -= clr g / std (3); step counters add 1 each
    assert _optimizer_flops(frame) == PARAMS * cost("adagrad") + TENSORS * ADD


def test_clip_grad_norm_uses_foreach_norm() -> None:
    layer = torch.nn.Linear(4, 3)
    layer(torch.randn(2, 4)).sum().backward()
    counter = count(lambda: torch.nn.utils.clip_grad_norm_(layer.parameters(), 1.0, foreach=True))
    row = only_row(counter, "aten._foreach_norm")
    assert row.flops == PARAMS * (MUL + ADD) + TENSORS * T  # sum of squares, one sqrt each
    assert only_row(counter, "aten._foreach_mul_").flops == PARAMS * MUL  # g *= clip coef


def test_foreach_scalar_lists_alpha_and_value() -> None:
    a, b = [torch.randn(3), torch.randn(2, 2)], [torch.randn(3), torch.randn(2, 2)]
    n = 3 + 4
    row = only_row(count(lambda: torch._foreach_add(a, b, alpha=2)), "aten._foreach_add")
    assert row.flops == n * (ADD + MUL)
    row = only_row(count(lambda: torch._foreach_add(a, b)), "aten._foreach_add")
    assert row.flops == n * ADD
    # addcdiv with one value per tensor: the first is 1 (no multiply), the second is not
    counter = count(lambda: torch._foreach_addcdiv(a, b, b, [1.0, 0.5]))
    assert only_row(counter, "aten._foreach_addcdiv").flops == n * (DIV + ADD) + 4 * MUL
    row = only_row(count(lambda: torch._foreach_pow(a, 2.0)), "aten._foreach_pow")
    assert row.flops == n * cost("pow")
    row = only_row(count(lambda: torch._foreach_zero_(a)), "aten._foreach_zero_")
    assert (row.flops, row.category) == (0, "optimizer")


def test_amp_unscale() -> None:
    grads = [torch.randn(3), torch.randn(2, 2)]
    found, inv_scale = torch.zeros(1), torch.ones(1)
    counter = count(
        lambda: torch._amp_foreach_non_finite_check_and_unscale_(grads, found, inv_scale)
    )
    row = only_row(counter, "aten._amp_foreach_non_finite_check_and_unscale_")
    assert row.flops == 7 * cost("amp_unscale")  # g * (1 / scale) and a finiteness test


@pytest.mark.skipif(not hasattr(torch, "_foreach_mm"), reason="torch._foreach_mm is newer")
def test_foreach_mm() -> None:
    a, b = [torch.randn(2, 3), torch.randn(4, 5)], [torch.randn(3, 4), torch.randn(5, 1)]
    row = only_row(count(lambda: torch._foreach_mm(a, b)), "aten._foreach_mm")
    assert (row.category, row.macs, row.flops) == ("matmul", 2 * 3 * 4 + 4 * 5, 2 * 44)


def only_row_of(frame: pd.DataFrame, op: str) -> pd.Series:
    rows = frame[frame.op == op]
    assert len(rows) == 1
    return rows.iloc[0]
