"""Pointwise arithmetic, comparison and math formulas against closed forms, by running the real
ops under OpCounter. Every expected count is written as (elements) x (per-element cost)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from helpers import count, only_row, op_rows
from opcount.formulas import FREE_OPS, REGISTRY
from opcount.formulas.costs import DEFAULT_COSTS, cost
from opcount.formulas.pointwise import POINTWISE

ADD, MUL, DIV, CMP, T = (cost(n) for n in ("add", "mul", "div", "compare", "transcendental"))


def test_broadcast_add_costs_the_output_shape() -> None:
    a, b = torch.randn(4, 1), torch.randn(1, 5)
    row = only_row(count(lambda: torch.add(a, b)), "aten.add")
    assert row.flops == 4 * 5 * ADD  # [4, 1] + [1, 5] broadcast to [4, 5]
    assert (row.macs, row.int_ops) == (0, 0)
    assert (row.status, row.category) == ("counted", "elementwise")


def test_add_alpha_adds_a_multiply() -> None:
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    row = only_row(count(lambda: torch.add(a, b, alpha=2)), "aten.add")
    assert row.flops == 12 * (ADD + MUL)  # a + 2 * b


def test_inplace_out_and_scalar_overloads_share_the_formula() -> None:
    a, b, out = torch.randn(4, 5), torch.randn(5), torch.empty(4, 5)
    inplace = only_row(count(lambda: a.add_(b)), "aten.add_")
    assert inplace.flops == 4 * 5 * ADD  # b broadcast over a's rows
    out_row = only_row(count(lambda: torch.add(a, b, out=out)), "aten.add")
    assert (out_row.overload, out_row.flops) == ("out", 4 * 5 * ADD)
    scalar = only_row(count(lambda: torch.ops.aten.add.Scalar(a, 2.0)), "aten.add")
    assert (scalar.overload, scalar.flops) == ("Scalar", 4 * 5 * ADD)
    python_scalar = only_row(count(lambda: a * 3), "aten.mul")
    assert python_scalar.flops == 4 * 5 * MUL


def test_sub_rsub_mul_div() -> None:
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    assert only_row(count(lambda: a - b), "aten.sub").flops == 6 * ADD
    assert only_row(count(lambda: torch.rsub(a, 1.0)), "aten.rsub").flops == 6 * ADD
    assert only_row(count(lambda: a * b), "aten.mul").flops == 6 * MUL
    assert only_row(count(lambda: a / b), "aten.div").flops == 6 * DIV


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_modes_add_a_rounding(mode: str) -> None:
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    row = only_row(count(lambda: torch.div(a, b, rounding_mode=mode)), "aten.div")
    assert row.flops == 6 * (DIV + cost("round"))


@pytest.mark.parametrize(
    ("fn", "op", "per_element"),
    [
        (torch.exp, "aten.exp", T),
        (torch.exp2, "aten.exp2", T),
        (torch.expm1, "aten.expm1", T),
        (torch.log, "aten.log", T),
        (torch.log2, "aten.log2", T),
        (torch.log10, "aten.log10", T),
        (torch.log1p, "aten.log1p", T),
        (torch.sqrt, "aten.sqrt", T),
        (torch.rsqrt, "aten.rsqrt", T),
        (torch.sin, "aten.sin", T),
        (torch.cos, "aten.cos", T),
        (torch.tan, "aten.tan", T),
        (torch.asin, "aten.asin", T),
        (torch.acos, "aten.acos", T),
        (torch.atan, "aten.atan", T),
        (torch.sinh, "aten.sinh", T),
        (torch.cosh, "aten.cosh", T),
        (torch.asinh, "aten.asinh", T),
        (torch.erf, "aten.erf", T),
        (torch.erfc, "aten.erfc", T),
        (torch.erfinv, "aten.erfinv", T),
        (torch.lgamma, "aten.lgamma", T),
        (torch.neg, "aten.neg", cost("neg")),
        (torch.abs, "aten.abs", cost("abs")),
        (torch.sign, "aten.sign", cost("sign")),
        (torch.reciprocal, "aten.reciprocal", DIV),
        (torch.square, "aten.pow", cost("pow")),  # square is pow(x, 2)
        (lambda x: x**3.5, "aten.pow", cost("pow")),
        (torch.floor, "aten.floor", cost("round")),
        (torch.ceil, "aten.ceil", cost("round")),
        (torch.round, "aten.round", cost("round")),
        (lambda x: torch.round(x, decimals=2), "aten.round", cost("round") + MUL + DIV),
        (torch.trunc, "aten.trunc", cost("round")),
        (torch.frac, "aten.frac", cost("round") + ADD),  # x - trunc(x)
        (torch.isnan, "aten.isnan", CMP),
        (torch.isinf, "aten.isinf", CMP),
        (torch.nan_to_num, "aten.nan_to_num", 3 * CMP),  # NaN, +inf, -inf
        (torch.signbit, "aten.signbit", CMP),
        (torch.deg2rad, "aten.deg2rad", MUL),
        (torch.sinc, "aten.sinc", MUL + T + DIV + CMP),  # sin(pi x) / (pi x), x == 0
        (lambda x: torch.clamp(x, min=0.0), "aten.clamp", CMP),  # one bound
        (lambda x: torch.clamp(x, -1.0, 1.0), "aten.clamp", 2 * CMP),  # both bounds
        (lambda x: torch.clip(x, -1.0, 1.0), "aten.clamp", 2 * CMP),  # clip is clamp
        (lambda x: torch.clamp_min(x, 0.0), "aten.clamp_min", CMP),
        (lambda x: torch.clamp_max(x, 0.0), "aten.clamp_max", CMP),
        (lambda x: x.exp_(), "aten.exp_", T),
        (lambda x: x.clamp_(min=0.0), "aten.clamp_", CMP),
        (lambda x: x.masked_fill(x > 0, 0.0), "aten.masked_fill", cost("select")),
    ],
)
def test_unary_ops(fn: Callable[[torch.Tensor], Any], op: str, per_element: int) -> None:
    x = torch.rand(3, 5) + 0.5  # inside every function's domain
    rows = op_rows(count(lambda: fn(x)), op)
    assert list(rows.flops) == [15 * per_element]


@pytest.mark.parametrize(
    ("fn", "op", "per_element"),
    [
        (torch.pow, "aten.pow", cost("pow")),
        (torch.atan2, "aten.atan2", T),
        (torch.hypot, "aten.hypot", 2 * MUL + ADD + T),  # sqrt(a^2 + b^2)
        (torch.xlogy, "aten.xlogy", CMP + T + MUL),  # x == 0 ? 0 : x log y
        (torch.fmod, "aten.fmod", DIV + cost("round") + MUL + ADD),  # a - trunc(a / b) b
        (torch.remainder, "aten.remainder", DIV + cost("round") + MUL + ADD),
        (torch.floor_divide, "aten.floor_divide", DIV + cost("round")),
        (torch.maximum, "aten.maximum", CMP),
        (torch.minimum, "aten.minimum", CMP),
        (torch.fmax, "aten.fmax", CMP),
        (torch.fmin, "aten.fmin", CMP),
        (torch.copysign, "aten.copysign", cost("logical")),
        (torch.eq, "aten.eq", CMP),
        (torch.ne, "aten.ne", CMP),
        (torch.lt, "aten.lt", CMP),
        (torch.le, "aten.le", CMP),
        (torch.gt, "aten.gt", CMP),
        (torch.ge, "aten.ge", CMP),
        (lambda a, b: torch.lerp(a, b, 0.3), "aten.lerp", 2 * ADD + MUL),  # a + w (b - a)
        (lambda a, b: torch.lerp(a, b, b), "aten.lerp", 2 * ADD + MUL),  # tensor weight
        (lambda a, b: a.lerp_(b, 0.3), "aten.lerp_", 2 * ADD + MUL),
        (torch.logaddexp, "aten.logaddexp", 2 * ADD + cost("abs") + 2 * T + CMP),
    ],
)
def test_binary_ops_broadcast(fn: Callable[..., Any], op: str, per_element: int) -> None:
    a, b = torch.rand(3, 1) + 0.5, torch.rand(1, 4) + 0.5
    if op.endswith("_"):
        a = torch.rand(3, 4) + 0.5  # in place: self has the output shape
    rows = op_rows(count(lambda: fn(a, b)), op)
    assert list(rows.flops) == [3 * 4 * per_element]  # [3, 1] with [1, 4] -> [3, 4]


@pytest.mark.parametrize(("value", "extra"), [(1, 0), (0.5, MUL)])
def test_addcmul_addcdiv_value(value: float, extra: int) -> None:
    x, t1, t2 = torch.randn(2, 3), torch.randn(2, 3), torch.rand(2, 3) + 1
    row = only_row(count(lambda: torch.addcmul(x, t1, t2, value=value)), "aten.addcmul")
    assert row.flops == 6 * (MUL + ADD + extra)  # x + value * t1 * t2
    row = only_row(count(lambda: x.addcdiv_(t1, t2, value=value)), "aten.addcdiv_")
    assert row.flops == 6 * (DIV + ADD + extra)  # x + value * t1 / t2


def test_where_counts_one_select_per_output_element() -> None:
    x, y = torch.randn(3, 4), torch.randn(4)
    counter = count(lambda: torch.where(x > 0, x, y))
    assert only_row(counter, "aten.gt").flops == 12 * CMP
    row = only_row(counter, "aten.where")
    # the condition is bool, but the selected values are floats: floating-point work
    assert (row.flops, row.int_ops) == (12 * cost("select"), 0)


def test_where_with_scalar_is_the_same_under_inference_mode() -> None:
    x = torch.randn(3, 4)
    totals = []
    for mode in (torch.enable_grad, torch.inference_mode):
        with mode():
            counter = count(lambda: torch.where(x > 0, x, 1.0))
        frame = counter.to_dataframe()
        totals.append((int(frame.flops.sum()), int(frame.int_ops.sum())))
    assert totals == [(12 * CMP + 12 * cost("select"), 0)] * 2


def test_integer_and_bool_inputs_go_to_int_ops() -> None:
    a = torch.randint(0, 8, (3, 4))
    row = only_row(count(lambda: a + a), "aten.add")
    assert (row.flops, row.int_ops) == (0, 12 * ADD)
    m = a > 3
    row = only_row(count(lambda: torch.logical_and(m, m)), "aten.logical_and")
    assert (row.flops, row.int_ops) == (0, 12 * cost("logical"))
    row = only_row(count(lambda: torch.bitwise_xor(a, a)), "aten.bitwise_xor")
    assert row.int_ops == 12 * cost("logical")


def test_forward_and_backward_counted_once_per_op_run() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    frame = count(lambda: torch.exp(x).sum().backward()).to_dataframe()
    exp_rows = frame[frame.op == "aten.exp"]
    assert list(zip(exp_rows.phase, exp_rows.flops)) == [("forward", 12 * T)]
    # d exp(x) = dy * exp(x): one multiply per element, in backward
    mul_rows = frame[frame.op == "aten.mul"]
    assert list(zip(mul_rows.phase, mul_rows.flops)) == [("backward", 12 * MUL)]


def test_cost_overrides_apply_to_pointwise_formulas() -> None:
    x = torch.randn(2, 5)
    default = cost("transcendental")
    # the formula caches its per-element sum per cost table: each counter sees its own
    for costs, per_element in [(None, default), ({"transcendental": 4}, 4), (None, default)]:
        row = only_row(count(lambda: torch.exp(x), costs=costs), "aten.exp")
        assert row.flops == 10 * per_element


def test_meta_tensors_count_like_cpu() -> None:
    def run(device: str) -> int:
        a, b = torch.ones(6, 1, device=device), torch.ones(1, 7, device=device)
        return count(lambda: torch.hypot(torch.sqrt(a), b * 2).clamp(0, 1)).total_flops

    # sqrt (6), mul (7), hypot (42 x 4), clamp with two bounds (42 x 2)
    expected = 6 * T + 7 * MUL + 42 * (2 * MUL + ADD + T) + 42 * 2 * CMP
    assert run("cpu") == run("meta") == expected


def test_polar_builds_complex_from_cos_and_sin() -> None:
    r, theta = torch.rand(5), torch.rand(5)
    row = only_row(count(lambda: torch.polar(r, theta)), "aten.polar")
    assert row.flops == 5 * (2 * T + 2 * MUL)  # r cos t, r sin t


def test_every_table_entry_names_known_costs() -> None:
    for name, spec in POINTWISE.items():
        for entry in spec.real + (spec.complex_ or ()):
            assert entry in DEFAULT_COSTS, (name, entry)


def test_formulas_never_shadow_free_ops() -> None:
    # an op is either counted (a formula) or free by definition, never both
    assert not [p for p in REGISTRY.packets() if p in FREE_OPS]
