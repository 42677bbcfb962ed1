"""Small models for the report tests, each carrying its expected MACs in closed form.

They use only ops whose formulas are final (matmul, convolution, attention, views), so the golden
tables do not change when formulas for elementwise ops arrive.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AttentionBlock(nn.Module):
    """Single-head self-attention without biases: q, k, v, softmax(qk^T/sqrt(d))v, out."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attended = F.scaled_dot_product_attention(self.q(x), self.k(x), self.v(x))
        return self.out(attended)


class TinyTransformer(nn.Module):
    """Two attention blocks in a ModuleList, a head, and a layer that is never called."""

    def __init__(self, dim: int = 8, classes: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([AttentionBlock(dim), AttentionBlock(dim)])
        self.head = nn.Linear(dim, classes, bias=False)
        self.unused = nn.Linear(2, 2)
        self.dim, self.classes = dim, classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def forward_macs(self, batch: int, seq: int) -> int:
        """Four d x d projections and two s x s x d attention products per block, the head."""
        d = self.dim
        per_block = 4 * batch * seq * d * d + 2 * batch * seq * seq * d
        return 2 * per_block + batch * seq * d * self.classes


class TwoTower(nn.Module):
    """Two inputs, each through its own conv tower and linear head; a keyword flag."""

    def __init__(self) -> None:
        super().__init__()
        self.tower_a = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten())
        self.tower_b = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Flatten())
        self.fc_a = nn.Linear(4 * 8 * 8, 10)
        self.fc_b = nn.Linear(4 * 8 * 8, 10, bias=False)
        self.skip = nn.Identity()

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, both: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        out_a = self.fc_a(self.skip(self.tower_a(a)))
        if not both:
            return out_a
        return out_a, self.fc_b(self.tower_b(b))

    @staticmethod
    def forward_macs(batch: int) -> int:
        """Per tower: 4 x 8 x 8 outputs x (3 x 3 x 3) taps, then 256 x 10 per sample."""
        conv = batch * 4 * 8 * 8 * 3 * 3 * 3
        fc = batch * 256 * 10
        return 2 * (conv + fc)


class TiedLM(nn.Module):
    """A language model whose output head is its input embedding (tied weights)."""

    def __init__(self, vocab: int = 100, dim: int = 16) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.body = nn.Linear(dim, dim, bias=False)
        self.head = nn.Linear(dim, vocab, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.embed(ids)))
