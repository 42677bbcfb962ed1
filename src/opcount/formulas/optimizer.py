"""Optimizer steps: the ``_foreach_*`` list ops, the fused Adam/AdamW/SGD/Adagrad kernels and
the GradScaler (AMP) helpers, all in category ``optimizer``.

A ``_foreach_<op>`` applies ``<op>`` to every tensor of a list, so it costs the sum over the list
of ``numel(t) * per-element cost of <op>`` (the single-tensor entry of
:data:`.pointwise.POINTWISE`), with the same rules for ``alpha``/``value`` scalars and complex
tensors. A fused kernel costs one optimizer update per parameter element (cost entries
``adam``, ``sgd``, ``sgd_momentum``, ``adagrad`` with their options); the foreach path of the
same optimizer adds up to the same number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from .costs import cost
from .matmul import matmul_macs, real_macs
from .pointwise import POINTWISE, Pointwise, scaling_flops
from .registry import Cost, FormulaFn, register
from .shapes import arg


def tensor_list(args: Sequence[Any]) -> list[Tensor]:
    """The first tensor-list argument (``self`` of a foreach op; ``exponent`` of
    ``_foreach_pow(Scalar, Tensor[])``)."""
    for value in args:
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], Tensor):
            return list(value)
    return []


def list_flops(tensors: Sequence[Tensor], spec: Pointwise) -> int:
    """``sum(numel(t) * spec.per_element(t complex?))`` over a tensor list."""
    return sum(int(t.numel()) * spec.per_element(t.is_complex()) for t in tensors)


def _scalar_for(factor: Any, index: int) -> Any:
    """The scalar applying to list entry ``index``: one per entry for a list, else shared."""
    if isinstance(factor, (list, tuple)):
        return factor[index]
    return factor


def foreach_formula(spec: Pointwise, scalar_arg: tuple[int | None, str] | None = None) -> FormulaFn:
    """Formula of a foreach op applying ``spec`` per element, plus a multiply by the scalar
    argument ``scalar_arg = (position or None if keyword-only, name)`` (``alpha``, ``value``)
    where it is not 1."""

    def formula(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
        tensors = tensor_list(args)
        flops = list_flops(tensors, spec)
        if scalar_arg is not None:
            index, name = scalar_arg
            if index is not None and len(args) > index:
                factor = args[index]
            else:
                factor = kwargs.get(name, kwargs.get("scalars", 1))
            for i, t in enumerate(tensors):
                flops += scaling_flops(_scalar_for(factor, i), int(t.numel()), t.is_complex())
        return flops, 0

    return formula


def _register_foreach(
    name: str, spec: Pointwise, scalar_arg: tuple[int | None, str] | None
) -> None:
    register(f"_foreach_{name}", f"_foreach_{name}_", category="optimizer")(
        foreach_formula(spec, scalar_arg)
    )


_FOREACH_UNARY = (
    "abs",
    "acos",
    "asin",
    "atan",
    "ceil",
    "cos",
    "cosh",
    "erf",
    "erfc",
    "exp",
    "expm1",
    "floor",
    "frac",
    "lgamma",
    "log",
    "log10",
    "log1p",
    "log2",
    "neg",
    "reciprocal",
    "rsqrt",
    "sigmoid",
    "sign",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
)
_FOREACH_BINARY = ("mul", "pow", "maximum", "minimum", "clamp_min", "clamp_max", "lerp")

for _name in _FOREACH_UNARY + _FOREACH_BINARY:
    _register_foreach(_name, POINTWISE[_name], None)
# a / b: as div without rounding mode; round: as round without decimals
_register_foreach("div", Pointwise(("div",), ("complex_div",)), None)
_register_foreach("round", Pointwise(("round",)), None)
# a + alpha * b (the List and Tensor overloads take alpha)
_register_foreach("add", Pointwise(("add",), ("complex_add",)), (None, "alpha"))
_register_foreach("sub", Pointwise(("add",), ("complex_add",)), (None, "alpha"))
# a + value * b * c and a + value * b / c (value: a Scalar, a list of them, or a Tensor)
_ADDCMUL = Pointwise(("mul", "add"), ("complex_mul", "complex_add"))
_ADDCDIV = Pointwise(("div", "add"), ("complex_div", "complex_add"))
_register_foreach("addcmul", _ADDCMUL, (3, "value"))
_register_foreach("addcdiv", _ADDCDIV, (3, "value"))
# copies and fills: no arithmetic
_register_foreach("copy", Pointwise(()), None)
_register_foreach("zero", Pointwise(()), None)
_register_foreach("clone", Pointwise(()), None)


def _norm_flops(args: Sequence[Any], kwargs: Mapping[str, Any], root: bool) -> int:
    """FLOPs of ``sum |x| ** p`` over each tensor of the list, and of the root if ``root``."""
    # per element: ord 2: x * x + acc; ord 1: |x| + acc; ord inf: max(|x|, acc); ord 0:
    # (x != 0) + acc; other p: |x| ** p + acc (abs, pow, add). Per tensor the norm takes the
    # root: one sqrt (ord 2) or pow (other p); ord 0, 1 and inf need none. Complex elements
    # cost twice, one per part.
    tensors = tensor_list(args)
    order = float(arg(args, kwargs, 1, "ord", 2))
    if order == 2:
        per, root_cost = Pointwise(("mul", "add")), cost("transcendental")
    elif order == 1:
        per, root_cost = Pointwise(("abs", "add")), 0
    elif order == float("inf"):
        per, root_cost = Pointwise(("abs", "compare")), 0
    elif order == 0:
        per, root_cost = Pointwise(("compare", "add")), 0
    else:
        per, root_cost = Pointwise(("abs", "pow", "add")), cost("pow")
    return list_flops(tensors, per) + (root_cost * len(tensors) if root else 0)


@register("_foreach_norm", category="optimizer")
def foreach_norm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # ||t||_p for every t of the list (clip_grad_norm_ runs it)
    return _norm_flops(args, kwargs, root=True), 0


@register("_foreach_powsum", category="optimizer")
def foreach_powsum(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # sum |t| ** p for every t of the list: the norm without its root
    return _norm_flops(args, kwargs, root=False), 0


@register("_foreach_max", category="optimizer")
def foreach_max(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # max over each tensor: one compare per element
    return list_flops(tensor_list(args), Pointwise(("compare",))), 0


@register("_foreach_mm", category="matmul")
def foreach_mm(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # self[i]: [m, k] @ mat2[i]: [k, n] for every i; 4 real MACs per complex MAC
    macs = 0
    for a, b in zip(args[0], args[1]):
        macs += real_macs(matmul_macs(a.shape[0], a.shape[1], b.shape[1]), a)
    return 2 * macs, macs


# -- fused optimizer kernels ---------------------------------------------------------------------


def param_elements(args: Sequence[Any]) -> int:
    """Real elements of the parameter list ``args[0]`` (a complex element is two)."""
    return sum(int(t.numel()) * (2 if t.is_complex() else 1) for t in args[0])


def _common_options(kwargs: Mapping[str, Any]) -> int:
    """Per-element FLOPs of the options every fused kernel shares."""
    flops = 0
    if kwargs.get("maximize", False):
        flops += cost("neg")  # g = -g
    if kwargs.get("grad_scale") is not None:
        flops += cost("div")  # g = g / grad_scale (AMP)
    return flops


def _adam_flops(args: Sequence[Any], kwargs: Mapping[str, Any], decoupled: bool) -> int:
    # adam per element; weight decay: AdamW p *= 1 - lr * wd (multiply), Adam g += wd * p
    # (multiply, add); amsgrad: v_max = max(v_max, v) (compare); plus the shared options
    per = cost("adam") + _common_options(kwargs)
    if kwargs.get("weight_decay", 0) != 0:
        per += cost("mul") if decoupled else cost("mul") + cost("add")
    if kwargs.get("amsgrad", False):
        per += cost("compare")
    return per * param_elements(args)


@register("_fused_adam_", "_fused_adam", category="optimizer")
def fused_adam(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # Adam (L2 weight decay added to the gradient)
    return _adam_flops(args, kwargs, decoupled=False), 0


@register("_fused_adamw_", "_fused_adamw", category="optimizer")
def fused_adamw(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # AdamW (weight decay applied to the parameter)
    return _adam_flops(args, kwargs, decoupled=True), 0


@register("_fused_sgd_", "_fused_sgd", category="optimizer")
def fused_sgd(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # per element: sgd (p -= lr * g); weight decay g += wd * p (multiply, add); momentum after
    # the first step: sgd_momentum (b = m * b + g), a multiply more for dampening != 0; the
    # first step copies g into b (no FLOPs); nesterov g += m * b (multiply, add)
    per = cost("sgd") + _common_options(kwargs)
    if kwargs.get("weight_decay", 0) != 0:
        per += cost("mul") + cost("add")
    if kwargs.get("momentum", 0) != 0:
        if not kwargs.get("is_first_step", False):
            per += cost("sgd_momentum")
            if kwargs.get("dampening", 0) != 0:
                per += cost("mul")
        if kwargs.get("nesterov", False):
            per += cost("mul") + cost("add")
    return per * param_elements(args), 0


@register("_fused_adagrad_", "_fused_adagrad", category="optimizer")
def fused_adagrad(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # per element: adagrad; weight decay g += wd * p (multiply, add); plus the shared options
    per = cost("adagrad") + _common_options(kwargs)
    if kwargs.get("weight_decay", 0) != 0:
        per += cost("mul") + cost("add")
    return per * param_elements(args), 0


# -- mixed precision (torch.amp.GradScaler) ------------------------------------------------------


@register("_amp_foreach_non_finite_check_and_unscale_", category="optimizer")
def amp_unscale(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # g *= inv_scale and a finiteness test, for every element of every gradient
    return cost("amp_unscale") * param_elements(args), 0


@register("_amp_update_scale_", "_amp_update_scale", category="optimizer")
def amp_update_scale(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # on the one-element scale: test found_inf, scale *= growth or backoff, tracker += 1
    return cost("compare") + cost("mul") + cost("add"), 0
