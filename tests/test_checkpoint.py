"""Activation checkpointing: the recomputed forward is phase "recompute", in its own modules,
and the backward of recomputed ops is still attributed to the right modules."""

from __future__ import annotations

import pytest
import torch
import torch.utils.checkpoint as checkpoint
from torch import nn

from helpers import count

N, D = 4, 6


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(D, 2 * D)
        self.b = nn.Linear(2 * D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))


class Checkpointed(nn.Module):
    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        self.inner = Inner()
        self.head = nn.Linear(D, 1)
        self.reentrant = reentrant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = checkpoint.checkpoint(self.inner, x, use_reentrant=self.reentrant)
        return self.head(h)


@pytest.mark.parametrize("reentrant", [True, False])
def test_recompute_phase_and_modules(reentrant: bool) -> None:
    model = Checkpointed(reentrant)
    x = torch.randn(N, D, requires_grad=True)
    counter = count(lambda: model(x).sum().backward())
    rows = counter.to_dataframe()
    matmuls = rows[rows["macs"] > 0]
    macs = matmuls.groupby(["phase", "module"])["macs"].sum().to_dict()
    a, b = N * D * 2 * D, N * 2 * D * D
    assert macs[("forward", "inner.a")] == a
    assert macs[("forward", "inner.b")] == b
    assert macs[("recompute", "inner.a")] == a
    if reentrant:
        assert macs[("recompute", "inner.b")] == b
    else:
        # non-reentrant checkpoint stops once the tensors backward needs are rebuilt: b's
        # output is not among them, so b is not re-run
        assert ("recompute", "inner.b") not in macs
    assert macs[("backward", "inner.a")] == 2 * a
    assert macs[("backward", "inner.b")] == 2 * b
    assert macs[("backward", "head")] == 2 * N * D
    assert ("recompute", "head") not in macs
    recompute = rows[rows["phase"] == "recompute"]
    assert set(recompute.loc[recompute["op"] == "aten.tanh", "module"]) == {"inner"}
    table = counter.by_module().set_index("module")
    assert table.loc["inner", "recompute_macs"] == (a + b if reentrant else a)
    assert table["self_flops"].sum() == counter.total_flops
