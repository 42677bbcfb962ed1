"""ptflops' ``get_model_complexity_info``, with opcount's numbers.

``from opcount.compat.ptflops import get_model_complexity_info`` replaces ``from ptflops import
...``: same arguments, same ``(macs, params)`` result, as strings or numbers. The MACs are the
multiply-accumulates of every matmul, convolution and attention op the model ran, for the whole
batch; ``print_per_layer_stat`` prints opcount's module table.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

import torch
from torch import nn

from ..errors import OpCountError, check_bool, check_count
from ._run import Rule, count_forward, module_macs

_MAC_UNITS = {"GMac": 10**9, "MMac": 10**6, "KMac": 10**3, "Mac": 1}
_PARAM_UNITS = {"B": 10**9, "M": 10**6, "K": 10**3, "k": 10**3, "": 1}


def macs_to_string(macs: float, units: str | None = None, precision: int = 2) -> str:
    """``4089184256`` -> ``"4.09 GMACs"``; ``units`` is ptflops' ``"GMac"``, ``"MMac"``,
    ``"KMac"`` (or ``"GMACs"``, ...), else chosen from the value."""
    if units is not None:
        key = units[:-1] if units.endswith("MACs") else units
        key = key.replace("MAC", "Mac")
        if key not in _MAC_UNITS:
            raise OpCountError(f"unknown MAC unit {units!r}; use GMac, MMac, KMac or Mac")
        scale = _MAC_UNITS[key]
    else:
        scale = next((s for s in (10**9, 10**6, 10**3) if abs(macs) >= s), 1)
    prefix = {10**9: "G", 10**6: "M", 10**3: "K", 1: ""}[scale]
    if scale == 1:
        return f"{int(macs)} MACs"
    return f"{macs / scale:.{precision}f} {prefix}MACs"


def params_to_string(params: float, units: str | None = None, precision: int = 2) -> str:
    """``25557032`` -> ``"25.56 M"``, as ptflops writes parameters (``K``, ``M``, ``B``)."""
    if units is not None:
        if units not in _PARAM_UNITS:
            raise OpCountError(f"unknown parameter unit {units!r}; use B, M or K")
        scale, prefix = _PARAM_UNITS[units], units.upper()
    else:
        scale, prefix = next(
            ((s, p) for s, p in ((10**9, "B"), (10**6, "M"), (10**3, "K")) if abs(params) >= s),
            (1, ""),
        )
    if scale == 1:
        return str(int(params))
    return f"{params / scale:.{precision}f} {prefix}"


def _default_input(model: nn.Module, input_res: Sequence[int]) -> torch.Tensor:
    """A batch of one, ``(1, *input_res)``, in the dtype and on the device of the model."""
    first = next(model.parameters(), None)
    if first is None:
        return torch.ones((1, *input_res))
    return torch.ones((1, *input_res), dtype=first.dtype, device=first.device)


def get_model_complexity_info(
    model: nn.Module,
    input_res: tuple[int, ...],
    print_per_layer_stat: bool = True,
    as_strings: bool = True,
    input_constructor: Callable[[tuple[int, ...]], Any] | None = None,
    ost: TextIO | None = None,
    verbose: bool = False,
    ignore_modules: Sequence[type] = (),
    custom_modules_hooks: Mapping[type, Rule] | None = None,
    backend: Any = "pytorch",
    flops_units: str | None = None,
    param_units: str | None = None,
    output_precision: int = 2,
    backend_specific_config: Mapping[str, Any] | None = None,
) -> tuple[str, str] | tuple[int, int]:
    """MACs of one inference forward and the parameters of ``model``, as ptflops returns them.

    Args:
        model: the model; left as found (train/eval flags restored, nothing attached).
        input_res: shape of one input without the batch dimension: ``(3, 224, 224)`` runs
            ``model(x)`` with ``x`` of shape ``(1, 3, 224, 224)``.
        print_per_layer_stat: print opcount's module table to ``ost``.
        as_strings: return ``("4.09 GMACs", "25.56 M")`` instead of numbers.
        input_constructor: ``f(input_res)`` returning the model's input: a dict is passed as
            keyword arguments, anything else as the one positional argument.
        ost: stream for the table (default ``sys.stdout``).
        verbose: warn about ops that have no formula yet.
        ignore_modules: module types whose MACs are left out of the total.
        custom_modules_hooks: ``{ModuleType: hook}``; ``hook(module, input, output)`` adds to
            ``module.__flops__`` as in ptflops and replaces opcount's count for that module.
        backend, backend_specific_config: accepted for compatibility; opcount counts aten ops
            whatever ptflops backend is named.
        flops_units, param_units, output_precision: formatting of the strings.

    Returns:
        ``(macs, params)``: strings if ``as_strings``, else integers.
    """
    del backend, backend_specific_config  # one counting method serves both ptflops backends
    for name, value in (
        ("print_per_layer_stat", print_per_layer_stat),
        ("as_strings", as_strings),
        ("verbose", verbose),
    ):
        check_bool(name, value)
    check_count("output_precision", output_precision)
    if not isinstance(input_res, tuple) or not input_res:
        raise OpCountError(
            f"input_res must be a non-empty tuple such as (3, 224, 224), got {input_res!r}"
        )
    if input_constructor is not None:
        made = input_constructor(input_res)
        args, kwargs = ((), dict(made)) if isinstance(made, Mapping) else ((made,), {})
    else:
        args, kwargs = (_default_input(model, input_res),), {}
    ignored = tuple(ignore_modules)
    counter, custom = count_forward(
        model,
        args,
        kwargs,
        warn=verbose,
        rules=custom_modules_hooks,
        rule_attribute="__flops__",
        rule_initial=int,
    )
    overrides = dict(custom)
    for path, module in model.named_modules():
        if type(module) in ignored:  # exact types, as ptflops matches them
            overrides[path] = 0.0
    _, macs = module_macs(counter, overrides)
    params = counter.num_params
    if print_per_layer_stat:
        print(counter.table(depth=None), file=ost if ost is not None else sys.stdout)
    if as_strings:
        return (
            macs_to_string(macs, flops_units, output_precision),
            params_to_string(params, param_units, output_precision),
        )
    return int(macs), int(params)
