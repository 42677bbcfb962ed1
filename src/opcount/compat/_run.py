"""The one counted run every compat function makes, and the users' per-module-type rules.

The model runs once in eval mode under ``torch.no_grad()`` (inference counts, as the originals
report them, and no batch-norm statistics updated); afterwards every module's own train/eval flag
is restored, and any hook or attribute a user rule needed is removed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import _disable_current_modes

from ..counter import OpCounter
from ..errors import OpCountError
from ..reports.frames import module_ancestors

Rule = Callable[[nn.Module, Any, Any], Any]
"""A user's counting rule: ``rule(module, inputs, output)``, adding to a module attribute."""

_MISSING = object()


@contextmanager
def inference(model: nn.Module) -> Iterator[None]:
    """Eval mode and no grad for the run; each module's train/eval flag restored afterwards."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, training in flags:
            module.training = training


@contextmanager
def custom_rules(
    model: nn.Module,
    rules: Mapping[type, Rule],
    attribute: str,
    initial: Callable[[], Any],
    results: dict[str, float],
) -> Iterator[None]:
    """Run each module of a type in ``rules`` through its rule as a forward hook that adds to
    ``module.<attribute>`` (thop's ``total_ops``, ptflops' ``__flops__``), and put each
    module's final value in ``results`` under its ``named_modules()`` path. Hooks are removed
    and the attribute restored (or deleted) on exit, also when the run raises."""
    if not rules:
        yield
        return
    handles = []
    saved: list[tuple[nn.Module, str, Any]] = []

    def run_rule(module: nn.Module, inputs: Any, output: Any) -> None:
        # the user's arithmetic on counters is bookkeeping, not the model's work: don't count it
        with _disable_current_modes():
            rules[type(module)](module, inputs, output)

    try:
        for path, module in model.named_modules():
            if type(module) not in rules:
                continue
            saved.append((module, path, module.__dict__.get(attribute, _MISSING)))
            object.__setattr__(module, attribute, initial())
            handles.append(module.register_forward_hook(run_rule))
        yield
        for module, path, _old in saved:
            value = getattr(module, attribute)
            results[path] = float(value.item() if isinstance(value, torch.Tensor) else value)
    finally:
        for handle in handles:
            handle.remove()
        for module, _path, old in saved:
            if old is _MISSING:
                module.__dict__.pop(attribute, None)
            else:
                object.__setattr__(module, attribute, old)


def count_forward(
    model: nn.Module,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    warn: bool = True,
    rules: Mapping[type, Rule] | None = None,
    rule_attribute: str = "total_ops",
    rule_initial: Callable[[], Any] = int,
) -> tuple[OpCounter, dict[str, float]]:
    """Count one inference forward of ``model(*args, **kwargs)``; also return the values of
    the users' ``rules`` per module path."""
    if not isinstance(model, nn.Module):
        raise OpCountError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    results: dict[str, float] = {}
    counter = OpCounter(model, warn=False)
    with ExitStack() as stack:
        stack.enter_context(inference(model))
        stack.enter_context(custom_rules(model, rules or {}, rule_attribute, rule_initial, results))
        stack.enter_context(counter)
        model(*args, **(kwargs or {}))
    if warn and not counter.complete:
        ops = counter.unsupported_ops()
        listing = ", ".join(f"{o} x{c}" for o, c in zip(ops["op"], ops["calls"]))
        warnings.warn(
            f"{len(ops)} op(s) have no formula yet, so FLOPs are a lower bound (MACs of matmul, "
            f"convolution and attention are exact): {listing}",
            stacklevel=3,
        )
    return counter, results


def module_macs(
    counter: OpCounter, overrides: Mapping[str, float]
) -> tuple[dict[str, float], float]:
    """Forward MACs per module path (inclusive) and in total, with the outermost modules in
    ``overrides`` (user rules, ignored modules) counted at the given value instead."""
    frame = counter.by_module(phase="forward")
    macs = {str(m): float(v) for m, v in zip(frame["module"], frame["macs"])}
    total = float(counter.by_phase().set_index("phase")["macs"].get("forward", 0))
    for path, value in overrides.items():
        if any(a in overrides for a in module_ancestors(path)):
            continue  # an enclosing module's value already covers this one
        delta = value - macs.get(path, 0.0)
        total += delta
        for name in (path, *module_ancestors(path)):
            if name in macs:
                macs[name] += delta
    return macs, total
