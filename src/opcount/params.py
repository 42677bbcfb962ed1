"""Parameter counts, without running the model; a weight shared by two modules counts once."""

from __future__ import annotations

from torch import nn


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of distinct parameter elements of ``model``.

    Tied weights (one ``nn.Parameter`` held by two modules) are counted once, as
    ``model.parameters()`` yields them. Uninitialised lazy parameters count as 0.
    """
    total = 0
    for param in model.parameters():
        if trainable_only and not param.requires_grad:
            continue
        if isinstance(param, nn.parameter.UninitializedParameter):
            continue
        total += param.numel()
    return total
