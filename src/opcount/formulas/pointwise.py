"""Pointwise arithmetic, comparisons and math functions, real and complex.

Every op here costs a fixed number of FLOPs per element of its *output*, which for a binary op is
the broadcast shape (``[4, 1] + [1, 5]`` costs 20 adds). The per-element cost is a sum of entries
of the cost table (:mod:`.costs`), named in :data:`POINTWISE` beside each op. In-place (``add_``),
``out=`` and scalar overloads share their op's formula: the output has the same shape.

Complex tensors are counted in real FLOPs: an op whose input or output is complex uses its
``complex`` entries (a complex multiply is 6 real FLOPs), or twice its real cost when it has none
(one operation per part, as for a comparison).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .costs import active_table, cost
from .registry import Cost, FormulaFn, register


@dataclass(frozen=True)
class Pointwise:
    """The per-element cost of one pointwise op: cost-table names summed, real and complex."""

    real: tuple[str, ...]
    complex_: tuple[str, ...] | None = None

    def per_element(self, is_complex: bool = False) -> int:
        """FLOPs of one output element."""
        # plain loops: this runs on every call of every pointwise op (no generator overhead)
        total = 0
        if not is_complex:
            for name in self.real:
                total += cost(name)
            return total
        if self.complex_ is None:
            for name in self.real:
                total += cost(name)
            return 2 * total  # one operation per part
        for name in self.complex_:
            total += cost(name)
        return total


# -- shape helpers -------------------------------------------------------------------------------


def tensors_in(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Tensor]:
    """The tensor arguments of a call (one level of lists), ``out=`` tensors excluded."""
    found: list[Tensor] = []
    for value in args:
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(item for item in value if isinstance(item, Tensor))
    for key, value in kwargs.items():
        if key == "out":
            continue
        if isinstance(value, Tensor):
            found.append(value)
        elif isinstance(value, (list, tuple)):
            found.extend(item for item in value if isinstance(item, Tensor))
    return found


def _input_numel(args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    """Elements of the broadcast of the tensor arguments."""
    shapes = [t.shape for t in tensors_in(args, kwargs)]
    if not shapes:
        return 0
    size = 1
    for dim in torch.broadcast_shapes(*shapes):
        size *= int(dim)
    return size


def out_numel(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> int:
    """Elements of the op's result: the output tensor (the first, for a tuple), else the
    broadcast shape of the tensor arguments."""
    if isinstance(out, Tensor):  # the common case first
        return int(out.numel())
    result = out[0] if isinstance(out, (tuple, list)) and out else out
    if isinstance(result, Tensor):
        return int(result.numel())
    return _input_numel(args, kwargs)


def is_complex_call(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> bool:
    """Whether the op computes on complex numbers: a complex input or a complex result."""
    # the tensors of tensors_in(args, kwargs), visited in place without building a list
    for value in args:
        if isinstance(value, Tensor):
            if value.is_complex():
                return True
        elif isinstance(value, (list, tuple)) and _any_complex(value):
            return True
    if kwargs:
        for key, value in kwargs.items():
            if key == "out":
                continue
            if isinstance(value, Tensor):
                if value.is_complex():
                    return True
            elif isinstance(value, (list, tuple)) and _any_complex(value):
                return True
    result = out[0] if isinstance(out, (tuple, list)) and out else out
    return isinstance(result, Tensor) and result.is_complex()


def elements_and_complex(
    args: Sequence[Any], kwargs: Mapping[str, Any], out: Any
) -> tuple[int, bool]:
    """``(out_numel(...), is_complex_call(...))`` in one pass, the output tensor first: this
    runs for every pointwise op, the most frequent ops of most models."""
    if isinstance(out, Tensor):
        elements = int(out.numel())
        if out.is_complex():
            return elements, True
    else:
        elements = out_numel(args, kwargs, out)
    for value in args:
        if isinstance(value, Tensor):
            if value.is_complex():
                return elements, True
        elif isinstance(value, (list, tuple)) and _any_complex(value):
            return elements, True
    if kwargs:
        return elements, is_complex_call((), kwargs, None)
    return elements, False


def _any_complex(values: Sequence[Any]) -> bool:
    """Whether any tensor in ``values`` (one level) is complex."""
    return any(isinstance(item, Tensor) and item.is_complex() for item in values)


def scaling_flops(factor: Any, elements: int, is_complex: bool) -> int:
    """FLOPs of multiplying ``elements`` values by a scalar ``factor`` (0 when it is 1).

    A real factor times a complex value is two real multiplies; a complex factor is a full
    complex multiply.
    """
    if isinstance(factor, Tensor) or factor != 1:
        if isinstance(factor, complex):
            return cost("complex_mul") * elements
        return (2 if is_complex else 1) * cost("mul") * elements
    return 0


# -- the table -----------------------------------------------------------------------------------

_T = ("transcendental",)
_CT = ("complex_transcendental",)

POINTWISE: dict[str, Pointwise] = {
    # arithmetic (add/sub/rsub/div/addcmul/addcdiv/clamp/round have their own formulas below)
    "mul": Pointwise(("mul",), ("complex_mul",)),  # a * b
    "reciprocal": Pointwise(("div",), ("complex_div",)),  # 1 / x
    "neg": Pointwise(("neg",)),  # -x
    "abs": Pointwise(("abs",), ("complex_abs",)),  # |x|; complex sqrt(a^2 + b^2)
    "sign": Pointwise(("sign",)),  # (x > 0) - (x < 0)
    "sgn": Pointwise(("sign",), ("complex_abs", "div", "div")),  # complex z / |z|
    "signbit": Pointwise(("compare",)),  # x < 0 (sign bit)
    "floor_divide": Pointwise(("div", "round")),  # floor(a / b)
    "fmod": Pointwise(("div", "round", "mul", "add")),  # a - trunc(a / b) * b
    "remainder": Pointwise(("div", "round", "mul", "add")),  # a - floor(a / b) * b
    "lerp": Pointwise(("add", "mul", "add"), ("complex_add", "complex_mul", "complex_add")),
    # ^ start + weight * (end - start)
    "pow": Pointwise(("pow",), ("complex_log", "complex_mul", "complex_exp")),  # exp(y log x)
    "xlogy": Pointwise(("compare", "transcendental", "mul")),  # x == 0 ? 0 : x * log(y)
    "special_xlog1py": Pointwise(("compare", "transcendental", "mul")),  # x * log1p(y)
    "hypot": Pointwise(("mul", "mul", "add", "transcendental")),  # sqrt(a^2 + b^2)
    "atan2": Pointwise(_T),  # one transcendental
    "logaddexp": Pointwise(("add", "abs", "transcendental", "transcendental", "compare", "add")),
    # ^ max(a, b) + log1p(exp(-|a - b|)); logaddexp2 alike in base 2
    "logaddexp2": Pointwise(("add", "abs", "transcendental", "transcendental", "compare", "add")),
    "ldexp": Pointwise(("transcendental", "mul")),  # x * 2^e
    "copysign": Pointwise(("logical",)),  # copy the sign bit
    "heaviside": Pointwise(("compare", "compare")),  # x == 0 ? v : x > 0
    "maximum": Pointwise(("compare",)),  # max(a, b)
    "minimum": Pointwise(("compare",)),
    "fmax": Pointwise(("compare",)),  # max(a, b) ignoring NaN
    "fmin": Pointwise(("compare",)),
    "clamp_min": Pointwise(("compare",)),  # max(x, lo)
    "clamp_max": Pointwise(("compare",)),  # min(x, hi)
    # comparisons and logic
    "eq": Pointwise(("compare",)),
    "ne": Pointwise(("compare",)),
    "lt": Pointwise(("compare",)),
    "le": Pointwise(("compare",)),
    "gt": Pointwise(("compare",)),
    "ge": Pointwise(("compare",)),
    "isnan": Pointwise(("compare",)),  # x != x
    "isinf": Pointwise(("compare",)),  # |x| == inf
    "isposinf": Pointwise(("compare",)),
    "isneginf": Pointwise(("compare",)),
    "nan_to_num": Pointwise(("compare", "compare", "compare")),  # NaN, +inf, -inf tests
    "logical_and": Pointwise(("logical",)),
    "logical_or": Pointwise(("logical",)),
    "logical_xor": Pointwise(("logical",)),
    "logical_not": Pointwise(("logical",)),
    "bitwise_and": Pointwise(("logical",)),
    "bitwise_or": Pointwise(("logical",)),
    "bitwise_xor": Pointwise(("logical",)),
    "bitwise_not": Pointwise(("logical",)),
    "bitwise_left_shift": Pointwise(("logical",)),
    "bitwise_right_shift": Pointwise(("logical",)),
    "__lshift__": Pointwise(("logical",)),
    "__rshift__": Pointwise(("logical",)),
    "__ilshift__": Pointwise(("logical",)),
    "__irshift__": Pointwise(("logical",)),
    "where": Pointwise(("select",)),  # cond ? a : b
    "masked_fill": Pointwise(("select",)),  # mask ? value : x
    # rounding
    "floor": Pointwise(("round",)),
    "ceil": Pointwise(("round",)),
    "trunc": Pointwise(("round",)),
    "frac": Pointwise(("round", "add")),  # x - trunc(x)
    # math functions: one transcendental each
    "exp": Pointwise(_T, ("complex_exp",)),
    "exp2": Pointwise(_T, _CT),
    "expm1": Pointwise(_T, _CT),
    "log": Pointwise(_T, ("complex_log",)),
    "log2": Pointwise(_T, _CT),
    "log10": Pointwise(_T, _CT),
    "log1p": Pointwise(_T, _CT),
    "sqrt": Pointwise(_T, _CT),
    "rsqrt": Pointwise(_T, _CT),
    "sin": Pointwise(_T, _CT),
    "cos": Pointwise(_T, _CT),
    "tan": Pointwise(_T, _CT),
    "asin": Pointwise(_T, _CT),
    "acos": Pointwise(_T, _CT),
    "atan": Pointwise(_T, _CT),
    "sinh": Pointwise(_T, _CT),
    "cosh": Pointwise(_T, _CT),
    "asinh": Pointwise(_T, _CT),
    "acosh": Pointwise(_T, _CT),
    "atanh": Pointwise(_T, _CT),
    "erf": Pointwise(_T),
    "erfc": Pointwise(_T),
    "erfinv": Pointwise(_T),
    "lgamma": Pointwise(_T),
    "digamma": Pointwise(_T),
    "polygamma": Pointwise(_T),
    "i0": Pointwise(_T),
    "igamma": Pointwise(_T),
    "igammac": Pointwise(_T),
    "special_i0e": Pointwise(_T),
    "special_i1": Pointwise(_T),
    "special_i1e": Pointwise(_T),
    "special_ndtri": Pointwise(_T),
    "special_log_ndtr": Pointwise(_T),
    "special_erfcx": Pointwise(_T),
    "special_entr": Pointwise(("compare", "transcendental", "mul")),  # -x log x
    "special_zeta": Pointwise(_T),
    "special_airy_ai": Pointwise(_T),
    "special_bessel_j0": Pointwise(_T),
    "special_bessel_j1": Pointwise(_T),
    "special_bessel_y0": Pointwise(_T),
    "special_bessel_y1": Pointwise(_T),
    "special_modified_bessel_i0": Pointwise(_T),
    "special_modified_bessel_i1": Pointwise(_T),
    "special_modified_bessel_k0": Pointwise(_T),
    "special_modified_bessel_k1": Pointwise(_T),
    "special_scaled_modified_bessel_k0": Pointwise(_T),
    "special_scaled_modified_bessel_k1": Pointwise(_T),
    "special_spherical_bessel_j0": Pointwise(_T),
    "sinc": Pointwise(("mul", "transcendental", "div", "compare")),  # sin(pi x) / (pi x)
    "deg2rad": Pointwise(("mul",)),
    "rad2deg": Pointwise(("mul",)),
    "angle": Pointwise(("compare",), ("transcendental",)),  # real: x < 0 ? pi : 0; atan2(b, a)
    "conj_physical": Pointwise((), ("neg",)),  # negate the imaginary part; a copy for reals
    "_conj_physical": Pointwise((), ("neg",)),
    "frexp": Pointwise(("logical",)),  # split exponent and mantissa bits
    "nextafter": Pointwise(("logical",)),  # step the bit pattern by one
    "linalg_cross": Pointwise(("mul", "mul", "add")),  # out_i = a_j b_k - a_k b_j
    "equal": Pointwise(("compare",)),  # all(a == b): one compare per element
    "allclose": Pointwise(("add", "abs", "abs", "mul", "add", "compare", "logical")),
    # ^ all(|a - b| <= atol + rtol |b|): subtract, two abs, multiply, add, compare, and
    "tanh": Pointwise(_T, _CT),
    "sigmoid": Pointwise(("sigmoid",), ("complex_exp", "complex_add", "complex_div")),
    "logit": Pointwise(("logit",)),  # log(x / (1 - x)); eps handled in the formula
}
"""Single-op per-element costs by aten name; the ``_foreach_*`` formulas reuse them."""

ACTIVATION_NAMES = frozenset({"tanh", "sigmoid"})
"""Table entries registered under the ``activation`` category (nn.Tanh, nn.Sigmoid)."""


def pointwise_formula(spec: Pointwise) -> FormulaFn:
    """The formula ``numel(out) * spec.per_element(complex?)`` for one table entry."""
    table: Mapping[str, int] | None = None
    real = complex_ = 0

    def formula(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        nonlocal table, real, complex_
        if active_table() is not table:  # the per-element sums, once per cost table
            table = active_table()
            real, complex_ = spec.per_element(False), spec.per_element(True)
        elements, is_complex = elements_and_complex(args, kwargs, out)
        return elements * (complex_ if is_complex else real), 0

    return formula


def _register_table() -> None:
    for name, spec in POINTWISE.items():
        if name in ("where", "logit", "equal", "allclose"):
            continue  # own formulas below
        category = "activation" if name in ACTIVATION_NAMES else "elementwise"
        inplace = name + "_" if not name.startswith("__") else None
        names = (name, inplace) if inplace else (name,)
        register(*names, category=category)(pointwise_formula(spec))


_register_table()


# -- ops whose cost depends on an argument -------------------------------------------------------


@register("add", "add_", "sub", "sub_", "rsub", category="elementwise")
def add(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # a + alpha * b: one add per element, plus a multiply when alpha != 1
    elements, complex_ = elements_and_complex(args, kwargs, out)
    alpha = args[2] if len(args) > 2 else kwargs.get("alpha", 1) if kwargs else 1
    flops = (cost("complex_add") if complex_ else cost("add")) * elements
    if alpha == 1:  # the common case (alpha is a Scalar, never a tensor): no scaling
        return flops, 0
    return flops + scaling_flops(alpha, elements, complex_), 0


@register("_add_relu", "_add_relu_", category="elementwise")
def add_relu(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # relu(a + alpha * b): the add, then one relu compare per element
    flops, _ = add(args, kwargs, out)
    return flops + cost("relu") * out_numel(args, kwargs, out), 0


@register("div", "div_", category="elementwise")
def div(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # a / b per element; rounding_mode "trunc" or "floor" adds one rounding
    elements = out_numel(args, kwargs, out)
    if is_complex_call(args, kwargs, out):
        return cost("complex_div") * elements, 0
    rounding = kwargs.get("rounding_mode")
    return (cost("div") + (cost("round") if rounding is not None else 0)) * elements, 0


def _add_scaled(product: str) -> FormulaFn:
    """``input + value * (t1 <product> t2)``: the product, an add, and a multiply by ``value``
    when it is not 1 (``addcmul``: mul, ``addcdiv``: div)."""
    spec = Pointwise((product, "add"), (f"complex_{product}", "complex_add"))

    def formula(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        elements, complex_ = elements_and_complex(args, kwargs, out)
        scaling = scaling_flops(kwargs.get("value", 1), elements, complex_)
        return spec.per_element(complex_) * elements + scaling, 0

    formula.__name__ = formula.__qualname__ = f"addc{product}"  # as the reference names it
    return formula


register("addcmul", "addcmul_", category="elementwise")(_add_scaled("mul"))
register("addcdiv", "addcdiv_", category="elementwise")(_add_scaled("div"))


@register("clamp", "clamp_", category="elementwise")
def clamp(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # min(max(x, lo), hi): one compare per bound given (clip is clamp)
    lo = args[1] if len(args) > 1 else kwargs.get("min")
    hi = args[2] if len(args) > 2 else kwargs.get("max")
    bounds = (lo is not None) + (hi is not None)
    return bounds * cost("compare") * out_numel(args, kwargs, out), 0


@register("round", "round_", category="elementwise")
def round_(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # round(x); with decimals d: round(x * 10^d) / 10^d, a multiply and a divide more
    per = cost("round")
    if kwargs.get("decimals", 0):
        per += cost("mul") + cost("div")
    return per * out_numel(args, kwargs, out), 0


@register("where", category="elementwise")
def where(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # cond ? a : b, one select per element of the broadcast output. The one-argument form
    # where(cond) (= nonzero, reaching here only under inference_mode) tests every element.
    if len(args) == 1 and not isinstance(out, Tensor):
        return cost("compare") * int(args[0].numel()), 0
    return cost("select") * out_numel(args, kwargs, out), 0


@register("logit", "logit_", category="elementwise")
def logit(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # log(x / (1 - x)); eps given: x is first clamped to [eps, 1 - eps], two compares
    eps = args[1] if len(args) > 1 else kwargs.get("eps")
    per = cost("logit") + (2 * cost("compare") if eps is not None else 0)
    return per * out_numel(args, kwargs, out), 0


@register("polar", category="elementwise")
def polar(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # abs * (cos(angle) + i sin(angle)): cos, sin, two multiplies per (complex) output element
    per = 2 * cost("transcendental") + 2 * cost("mul")
    return per * out_numel(args, kwargs, out), 0


@register("equal", category="elementwise")
def equal(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # all(a == b), a Python bool: one compare per element of the broadcast inputs
    spec = POINTWISE["equal"]
    return spec.per_element(is_complex_call(args, kwargs, None)) * _input_numel(args, kwargs), 0


@register("allclose", category="elementwise")
def allclose(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # all(|a - b| <= atol + rtol |b|), a Python bool: see POINTWISE["allclose"] per element
    spec = POINTWISE["allclose"]
    return spec.per_element(is_complex_call(args, kwargs, None)) * _input_numel(args, kwargs), 0


@register("mvlgamma", "mvlgamma_", category="elementwise")
def mvlgamma(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # log multivariate gamma of order p: c + sum_{i < p} lgamma(x - i / 2), per element p
    # subtracts, p lgammas and p adds
    p = int(args[1] if len(args) > 1 else kwargs["p"])
    per = p * (2 * cost("add") + cost("transcendental"))
    return per * out_numel(args, kwargs, out), 0
