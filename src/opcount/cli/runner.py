"""Count one model run for the CLI: forward, forward + backward of a scalar loss, or a whole
training step (forward, backward, one optimizer step)."""

from __future__ import annotations

import types
from typing import Any

import torch
from torch import nn

from ..counter import OpCounter
from .models import LoadedModel, ModelError


def scalar_loss(output: Any) -> torch.Tensor:
    """Sum of every floating-point tensor in ``output`` that needs a gradient."""
    tensors = [t for t in _tensors(output) if t.requires_grad and t.is_floating_point()]
    if not tensors:
        raise ModelError("--backward: the model's output has no tensor that needs a gradient")
    loss = tensors[0].sum()
    for t in tensors[1:]:
        loss = loss + t.sum()
    return loss


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def _cast(value: Any, dtype: torch.dtype) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, dtype) for v in value)
    return value


def _on_meta(args: Any) -> bool:
    return any(t.device.type == "meta" for t in _tensors(args))


def failing_module(error: BaseException, model: nn.Module) -> str | None:
    """Name (call path in ``model``) of the innermost module whose forward raised."""
    names = {id(m): n for n, m in model.named_modules()}
    found = None
    tb: types.TracebackType | None = error.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, nn.Module) and id(candidate) in names:
            found = names[id(candidate)] or "(root)"
        tb = tb.tb_next
    return found


def count_run(
    loaded: LoadedModel,
    *,
    backward: bool,
    train: bool,
    dtype: torch.dtype | None,
    timing: bool = False,
    optimizer: str | None = None,
) -> OpCounter:
    """Run the model once under an OpCounter; the model's own errors become ModelError.
    ``optimizer`` (a name of ``opcount.training.OPTIMIZERS``) adds one step of it."""
    model = loaded.model
    model.train(train)
    args, kwargs = loaded.args, loaded.kwargs
    if dtype is not None:
        model.to(dtype)
        args = _cast(args, dtype)
        kwargs = {k: _cast(v, dtype) for k, v in kwargs.items()}
    step = None
    if optimizer is not None:
        from ..training.optimizers import make_optimizer

        step = make_optimizer(optimizer, [p for p in model.parameters() if p.requires_grad])
    counter = OpCounter(model, warn=False, timing=timing)
    try:
        with torch.set_grad_enabled(backward), counter:
            output = model(*args, **kwargs)
            if backward:
                scalar_loss(output).backward()
            if step is not None:
                step.step()
    except ModelError:
        raise
    except Exception as error:
        where = failing_module(error, model)
        place = f" in module {where!r}" if where else ""
        hint = ""
        if isinstance(error, NotImplementedError) and _on_meta(args):
            hint = " (this model's work depends on its data, which meta tensors lack: count it "
            hint += "with --device cpu)"
        message = f"the model failed{place}: {type(error).__name__}: {error}{hint}"
        raise ModelError(message) from error
    return counter
