"""thop's ``profile`` and ``clever_format``, with opcount's numbers.

``from opcount.compat.thop import profile, clever_format`` replaces ``from thop import ...``:
same arguments, same ``(macs, params)`` floats. The MACs come from every aten op the model ran
(functional calls, ``@``/``matmul``, attention included); parameters are counted once each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Union

import torch
from torch import nn

from ..errors import OpCountError, check_bool
from ..reports.params import params_by_module
from ._run import Rule, count_forward, module_macs

LayerInfo = dict[str, tuple[float, float, "LayerInfo"]]
"""thop's ``ret_layer_info``: ``{child: (macs, params, {grandchild: ...})}``."""


def _positional(inputs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """thop passes ``inputs`` as ``model(*inputs)``; a lone tensor or a dict is accepted too."""
    if isinstance(inputs, Mapping):
        return (), dict(inputs)
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    raise OpCountError(
        f"inputs must be a tuple of the model's positional arguments, got {type(inputs).__name__}"
    )


def profile(
    model: nn.Module,
    inputs: Any = (),
    custom_ops: Mapping[type, Rule] | None = None,
    verbose: bool = True,
    ret_layer_info: bool = False,
    report_missing: bool = False,
    *,
    kwargs: Mapping[str, Any] | None = None,
) -> tuple[float, float] | tuple[float, float, LayerInfo]:
    """MACs of one inference forward of ``model(*inputs, **kwargs)`` and its parameters.

    Args:
        model: the model; left as found (train/eval flags restored, nothing attached).
        inputs: a tuple of positional arguments (tensors or anything else the model takes).
        custom_ops: ``{ModuleType: rule}``; ``rule(module, inputs, output)`` adds to
            ``module.total_ops`` as in thop, and replaces opcount's count for that module.
        verbose: warn about ops that have no formula yet.
        ret_layer_info: also return thop's nested ``{name: (macs, params, children)}``.
        report_missing: same as ``verbose`` (thop lists modules without a rule).
        kwargs: keyword arguments for the model (an opcount addition).

    Returns:
        ``(macs, params)`` as floats, like thop, or ``(macs, params, layer_info)``.
    """
    for name, value in (
        ("verbose", verbose),
        ("ret_layer_info", ret_layer_info),
        ("report_missing", report_missing),
    ):
        check_bool(name, value)
    args, extra = _positional(inputs)
    extra.update(kwargs or {})
    counter, custom = count_forward(
        model,
        args,
        extra,
        warn=verbose or report_missing,
        rules=custom_ops,
        rule_attribute="total_ops",
        rule_initial=lambda: torch.zeros(1, dtype=torch.float64),
    )
    macs, total = module_macs(counter, custom)
    params = float(counter.num_params)
    if not ret_layer_info:
        return total, params
    by_path = params_by_module(model).set_index("module")["params"]

    def layer_info(module: nn.Module, path: str) -> LayerInfo:
        info: LayerInfo = {}
        for name, child in module.named_children():
            child_path = f"{path}.{name}" if path else name
            info[name] = (
                macs.get(child_path, 0.0),
                float(by_path.get(child_path, 0)),
                layer_info(child, child_path),
            )
        return info

    return total, params, layer_info(model, "")


Number = Union[int, float]


def clever_format(
    nums: Number | Iterable[Number],
    format: str = "%.2f",  # thop's name for it, kept so that format="%.3f" still works
) -> str | tuple[str, ...]:
    """thop's formatter: ``clever_format([4.09e9, 25.6e6], "%.3f")`` -> ``("4.089G", "25.557M")``.

    One number gives one string, several give a tuple. Prefixes are powers of 1,000 (K, M, G,
    T). Unlike thop, a number exactly at a boundary takes the larger prefix (``1e9`` ->
    ``"1.000G"``, not ``"1000.000M"``) and numbers below 1,000 get no suffix (thop appends
    ``"B"``, which reads as billions).
    """
    values = list(nums) if isinstance(nums, Iterable) else [nums]
    out = []
    for value in values:
        for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
            if abs(value) >= scale:
                out.append(format % (value / scale) + prefix)
                break
        else:
            out.append(format % value)
    return out[0] if len(out) == 1 else tuple(out)
