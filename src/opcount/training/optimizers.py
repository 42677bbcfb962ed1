"""The optimizers ``opcount --optimizer NAME`` builds, by lower-case name, with the settings
training recipes commonly use (momentum for SGD)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..errors import OpCountError

__all__ = ["OPTIMIZERS", "make_optimizer"]

OPTIMIZERS: dict[str, Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]] = {
    "adamw": lambda params: torch.optim.AdamW(params, lr=1e-3),
    "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
    "sgd": lambda params: torch.optim.SGD(params, lr=1e-2, momentum=0.9),
    "adagrad": lambda params: torch.optim.Adagrad(params, lr=1e-2),
    "rmsprop": lambda params: torch.optim.RMSprop(params, lr=1e-2),
}
"""Name -> factory taking the parameters to optimize."""


def make_optimizer(name: str, params: Iterable[Any]) -> torch.optim.Optimizer:
    """The optimizer called ``name`` (case-insensitive) over ``params``."""
    factory = OPTIMIZERS.get(name.lower())
    if factory is None:
        raise OpCountError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    return factory(params)
