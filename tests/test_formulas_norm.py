"""Normalisation formulas against closed forms: batch norm (train, eval, every grad mode),
layer/group/instance/RMS/weight norm, forward and backward."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import count, frames_in_every_mode, only_row
from opcount.formulas import norm as norm_formulas
from opcount.formulas.costs import cost

N, C, H, W = 4, 6, 5, 5
NUMEL = N * C * H * W


def rows_of(frame: Any, op: str) -> Any:
    """The rows of ``op`` in a DataFrame of rows."""
    return frame[frame.op == op]


def test_layer_norm_reuses_norm_and_affine() -> None:
    x = torch.randn(4, 16)
    row = only_row(
        count(lambda: F.layer_norm(x, (16,), torch.ones(16), torch.zeros(16))),
        "aten.native_layer_norm",
    )
    assert row.flops == 4 * 16 * (cost("norm") + cost("affine"))  # [4, 16] normalised over 16
    assert (row.macs, row.category, row.status) == (0, "norm", "counted")


@pytest.mark.parametrize(
    ("weight", "bias", "affine"),
    [(True, True, "affine"), (True, False, "norm_affine_half"), (False, False, None)],
)
def test_layer_norm_affine_variants(weight: bool, bias: bool, affine: str | None) -> None:
    x = torch.randn(3, 5, 8)
    w = torch.ones(8) if weight else None
    b = torch.zeros(8) if bias else None
    row = only_row(count(lambda: F.layer_norm(x, (8,), w, b)), "aten.native_layer_norm")
    per_element = cost("norm") + (cost(affine) if affine else 0)
    assert row.flops == 3 * 5 * 8 * per_element


def test_layer_norm_same_in_every_grad_mode() -> None:
    x, ln = torch.randn(2, 7, 12), nn.LayerNorm(12)
    for frame in frames_in_every_mode(lambda: ln(x)):
        assert frame.flops.sum() == 2 * 7 * 12 * (cost("norm") + cost("affine"))
        assert set(frame[frame.category == "norm"].op) == {"aten.native_layer_norm"}


def test_layer_norm_backward() -> None:
    x = torch.randn(3, 10, requires_grad=True)
    ln = nn.LayerNorm(10)
    counter = count(lambda: ln(x).sum().backward())
    row = only_row(counter, "aten.native_layer_norm_backward")
    n = 3 * 10
    # grad_input: x_hat, dx, g = dy * weight; grad_weight: dy * x_hat summed; grad_bias: sum dy
    assert row.flops == n * (
        cost("norm_recompute")
        + cost("norm_backward")
        + cost("norm_weight_backward")
        + cost("norm_weight_grad")
        + cost("norm_bias_grad")
    )
    assert row.phase == "backward"


def test_layer_norm_backward_frozen_affine_and_input_without_grad() -> None:
    x = torch.randn(3, 10, requires_grad=True)
    ln = nn.LayerNorm(10).requires_grad_(False)
    row = only_row(count(lambda: ln(x).sum().backward()), "aten.native_layer_norm_backward")
    n = 3 * 10
    assert row.flops == n * (
        cost("norm_recompute") + cost("norm_backward") + cost("norm_weight_backward")
    )  # only grad_input
    ln = nn.LayerNorm(10)
    row = only_row(
        count(lambda: ln(x.detach()).sum().backward()), "aten.native_layer_norm_backward"
    )
    # only the parameters: x_hat is recomputed for grad_weight
    assert row.flops == n * (
        cost("norm_recompute") + cost("norm_weight_grad") + cost("norm_bias_grad")
    )


def test_batch_norm_training_updates_running_stats() -> None:
    x, bn = torch.randn(N, C, H, W), nn.BatchNorm2d(C).train()
    for frame in frames_in_every_mode(lambda: bn(x)):
        rows = rows_of(frame, "aten.native_batch_norm")
        assert len(rows) == 1
        # batch statistics and the affine per element, running mean/var update per channel
        assert rows.flops.iloc[0] == NUMEL * (cost("norm") + cost("affine")) + C * cost(
            "norm_running_stats"
        )


def test_batch_norm_training_without_running_stats() -> None:
    x = torch.randn(N, C, H, W)
    bn = nn.BatchNorm2d(C, affine=False, track_running_stats=False)
    row = only_row(count(lambda: bn(x)), "aten.native_batch_norm")
    assert row.flops == NUMEL * cost("norm")  # nothing to update, no affine


def test_batch_norm_eval_uses_running_stats_in_every_grad_mode() -> None:
    x, bn = torch.randn(N, C, H, W), nn.BatchNorm2d(C).eval()
    for frame in frames_in_every_mode(lambda: bn(x)):
        rows = rows_of(frame, "aten.native_batch_norm")
        # (x - running_mean) * rstd, then weight and bias
        assert rows.flops.tolist() == [NUMEL * (cost("norm_eval") + cost("affine"))]


def test_batch_norm_backward_training_and_eval() -> None:
    n = NUMEL
    full = cost("norm_weight_backward") + cost("norm_weight_grad") + cost("norm_bias_grad")
    x = torch.randn(N, C, H, W, requires_grad=True)
    bn = nn.BatchNorm2d(C).train()
    row = only_row(count(lambda: bn(x).sum().backward()), "aten.native_batch_norm_backward")
    assert row.flops == n * (cost("norm_recompute") + cost("norm_backward") + full)
    bn.eval()
    row = only_row(count(lambda: bn(x).sum().backward()), "aten.native_batch_norm_backward")
    # running statistics are constants: dx = dy * weight * rstd; x_hat still made for dweight
    assert row.flops == n * (cost("norm_eval_backward") + cost("norm_recompute") + full)


def test_instance_norm_is_batch_norm_over_instances() -> None:
    x = torch.randn(N, C, H, W)
    for frame in frames_in_every_mode(lambda: F.instance_norm(x)):
        rows = rows_of(frame, "aten.native_batch_norm")
        assert rows.flops.tolist() == [NUMEL * cost("norm")]  # no affine, no running stats


def test_group_norm_forward_and_backward() -> None:
    x = torch.randn(N, C, H, W, requires_grad=True)
    gn = nn.GroupNorm(3, C)
    counter = count(lambda: gn(x).sum().backward())
    assert only_row(counter, "aten.native_group_norm").flops == NUMEL * (
        cost("norm") + cost("affine")
    )
    assert only_row(counter, "aten.native_group_norm_backward").flops == NUMEL * (
        cost("norm_recompute")
        + cost("norm_backward")
        + cost("norm_weight_backward")
        + cost("norm_weight_grad")
        + cost("norm_bias_grad")
    )
    for frame in frames_in_every_mode(lambda: gn(x.detach())):
        assert frame.flops.sum() == NUMEL * (cost("norm") + cost("affine"))


def test_rms_norm_decomposes_and_has_no_unsupported_op() -> None:
    x = torch.randn(3, 8, requires_grad=True)
    rms = nn.RMSNorm(8)
    frame = count(lambda: rms(x).sum().backward()).to_dataframe()
    assert (frame.status != "unsupported").all(), frame[frame.status == "unsupported"]
    assert "aten.mean" in set(frame.op)  # composite: mean(x^2) and pointwise ops


def test_fused_rms_norm_backward_formula() -> None:
    # the CUDA kernel's backward, called directly with the shapes it receives
    grad, x = torch.empty(4, 16, device="meta"), torch.empty(4, 16, device="meta")
    rstd, weight = torch.empty(4, 1, device="meta"), torch.empty(16, device="meta")
    flops, macs = norm_formulas.fused_rms_norm_backward(
        (grad, x, [16], rstd, weight, [True, True]), {}, None
    )
    n = 4 * 16
    assert (flops, macs) == (
        n
        * (cost("rms_norm_backward") + cost("norm_weight_backward") + cost("rms_norm_weight_grad")),
        0,
    )
    flops, _ = norm_formulas.fused_rms_norm_backward(
        (grad, x, [16], rstd, None, [True, False]), {}, None
    )
    assert flops == n * cost("rms_norm_backward")


def test_weight_norm_forward_and_backward() -> None:
    layer = nn.utils.parametrizations.weight_norm(nn.Linear(5, 3))
    x = torch.randn(2, 5)
    counter = count(lambda: layer(x).sum().backward())
    assert only_row(counter, "aten._weight_norm_interface").flops == 3 * 5 * cost("weight_norm")
    row = only_row(counter, "aten._weight_norm_interface_backward")
    assert row.flops == 3 * 5 * cost("weight_norm_backward")


def test_local_response_norm_has_no_unsupported_op() -> None:
    x = torch.randn(2, 6, 4, 4, requires_grad=True)
    frame = count(lambda: F.local_response_norm(x, 3).sum().backward()).to_dataframe()
    assert (frame.status != "unsupported").all(), frame[frame.status == "unsupported"]
    assert len(rows_of(frame, "aten.avg_pool3d")) == 1  # the window sum over channels


def test_cuda_batch_norm_formulas_by_schema() -> None:
    x = torch.empty(N, C, H, W, device="meta")
    w, b, rm, rv = (torch.empty(C, device="meta") for _ in range(4))
    train = NUMEL * (cost("norm") + cost("affine")) + C * cost("norm_running_stats")
    assert norm_formulas.native_batch_norm((x, w, b, rm, rv, True, 0.1, 1e-5), {}, None) == (
        train,
        0,
    )
    eval_ = NUMEL * (cost("norm_eval") + cost("affine"))
    assert norm_formulas.native_batch_norm((x, w, b, rm, rv, False, 0.1, 1e-5), {}, None) == (
        eval_,
        0,
    )
    # cudnn_batch_norm_backward(input, grad_output, weight, ...): all three gradients
    flops, _ = norm_formulas.cudnn_batch_norm_backward((x, x, w, rm, rv, rm, rv, 1e-5, x), {}, None)
    assert flops == NUMEL * (
        cost("norm_recompute")
        + cost("norm_backward")
        + cost("norm_weight_backward")
        + cost("norm_weight_grad")
        + cost("norm_bias_grad")
    )
    # SyncBatchNorm pieces
    assert norm_formulas.batch_norm_stats((x, 1e-5), {}, None) == (NUMEL * cost("norm_stats"), 0)
    assert norm_formulas.batch_norm_elemt((x, w, b, rm, rv, 1e-5), {}, None) == (eval_, 0)
    stats = torch.empty(8, C, device="meta")  # 8 devices
    assert norm_formulas.batch_norm_gather_stats(
        (x, stats, stats, rm, rv, 0.1, 1e-5, 8), {}, None
    ) == (8 * C * cost("norm_gather_stats") + C * cost("norm_running_stats"), 0)


@pytest.mark.parametrize("variant", ["train_stats", "no_stats", "eval", "update", "no_update"])
def test_export_batch_norm_variants(variant: str) -> None:
    # the functional/export variants, called directly with their schemas' arguments
    x = torch.empty(N, C, H, W, device="meta")
    w, b, rm, rv = (torch.empty(C, device="meta") for _ in range(4))
    train = NUMEL * (cost("norm") + cost("affine"))
    update = C * cost("norm_running_stats")
    eval_ = NUMEL * (cost("norm_eval") + cost("affine"))
    cases = {
        "train_stats": (
            norm_formulas.native_batch_norm_legit,
            (x, w, b, rm, rv, True, 0.1, 1e-5),
            train + update,
        ),
        "no_stats": (norm_formulas.native_batch_norm_legit, (x, w, b, True, 0.1, 1e-5), train),
        "eval": (
            norm_formulas.native_batch_norm_legit_no_training,
            (x, w, b, rm, rv, 0.1, 1e-5),
            eval_,
        ),
        "update": (
            norm_formulas.batch_norm_with_update,
            (x, w, b, rm, rv, 0.1, 1e-5),
            train + update,
        ),
        "no_update": (norm_formulas.batch_norm_no_update, (x, w, b, rm, rv, 0.1, 1e-5), eval_),
    }
    fn, call, expected = cases[variant]
    assert fn(call, {}, None) == (expected, 0)


def test_batch_norm_backward_masks() -> None:
    x = torch.randn(N, C, H, W)
    bn = nn.BatchNorm2d(C)
    bn.weight.requires_grad_(False)
    xg = x.clone().requires_grad_(True)
    frame = count(lambda: bn(xg).sum().backward()).to_dataframe()
    rows = rows_of(frame, "aten.native_batch_norm_backward")
    # grad_input and grad_bias only
    assert rows.flops.tolist() == [
        NUMEL
        * (
            cost("norm_recompute")
            + cost("norm_backward")
            + cost("norm_weight_backward")
            + cost("norm_bias_grad")
        )
    ]


def test_renorm_rescales_every_slice() -> None:
    x = torch.randn(N, C, H)
    for frame in frames_in_every_mode(lambda: torch.renorm(x, 2, 1, 1.0)):
        # C slices along dim 1: squares and adds, a root each, the factor, every element scaled
        expected = N * C * H * (cost("reduce_norm") + cost("renorm_scale")) + C * (
            cost("reduce_root") + cost("renorm_row")
        )
        assert rows_of(frame, "aten.renorm").flops.tolist() == [expected]
    y = x.clone()
    row = only_row(count(lambda: y.renorm_(1, 0, 1.0)), "aten.renorm_")
    # the 1-norm: |x| and add, no root
    assert row.flops == N * C * H * (cost("reduce_norm") + cost("renorm_scale")) + N * cost(
        "renorm_row"
    )
