"""Whether the CLI's ``--input``s fit the model's ``forward``, checked before any is built."""

from __future__ import annotations

import inspect

from torch import nn

__all__ = ["arity_problem"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def arity_problem(name: str, model: nn.Module, given: int) -> str | None:
    """The one-line complaint (the CLI exits 2 with it) when ``given`` positional inputs
    cannot bind to ``model.forward``: fewer than its positional parameters without defaults,
    or more than all its positional parameters (unless it takes ``*args``); else None. A
    forward whose signature cannot be read is not checked."""
    try:
        parameters = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):  # builtins, C extensions: nothing to read
        return None
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    required = sum(1 for p in positional if p.default is inspect.Parameter.empty)
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)
    if required <= given and (varargs or given <= len(positional)):
        return None
    shown = [
        p.name if p.default is inspect.Parameter.empty else f"{p.name}=..." for p in positional
    ]
    shown += [f"*{p.name}" for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL]
    if varargs:
        takes, last = f"at least {required}", required
    elif required == len(positional):
        takes, last = str(required), required
    else:
        takes, last = f"{required} to {len(positional)}", len(positional)
    inputs = "input" if last == 1 else "inputs"
    flags = "--input" if given == 1 else "--inputs"
    return (
        f"{name}: {type(model).__name__}.forward({', '.join(shown)}) takes {takes} {inputs}, "
        f"but {given} {flags} given"
    )
