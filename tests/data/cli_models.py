"""Models for the CLI tests, loaded as ``tests/data/cli_models.py:NAME``.

``llama_30b`` builds a 32.5-billion-parameter decoder from plain torch: counted on ``meta`` it
allocates nothing. Its closed-form forward MACs are :func:`decoder_forward_macs`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, dim // heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(dim, kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        q = self.q(x).view(b, s, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(x).view(b, s, self.kv_heads, self.head_dim).transpose(1, 2)
        out = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=self.kv_heads != self.heads
        )
        return self.o(out.transpose(1, 2).reshape(b, s, -1))


class MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, kv_heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1, self.attn = RMSNorm(dim), Attention(dim, heads, kv_heads)
        self.norm2, self.mlp = RMSNorm(dim), MLP(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    def __init__(
        self, vocab: int, dim: int, layers: int, heads: int, kv_heads: int, hidden: int
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, kv_heads, hidden) for _ in range(layers))
        self.norm = RMSNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


LLAMA_30B = {
    "vocab": 32000, "dim": 6656, "layers": 60, "heads": 52, "kv_heads": 52, "hidden": 17920
}
SEQ = 2048


def decoder_forward_macs(
    vocab: int, dim: int, layers: int, heads: int, kv_heads: int, hidden: int, batch: int, seq: int
) -> int:
    """Closed form: projections, attention (q k^T and p v over the full s x s), MLP, LM head."""
    tokens = batch * seq
    kv_dim = kv_heads * (dim // heads)
    projections = tokens * (dim * dim + 2 * dim * kv_dim + dim * dim)
    attention = 2 * batch * heads * seq * seq * (dim // heads)
    mlp = tokens * 3 * dim * hidden
    return layers * (projections + attention + mlp) + tokens * dim * vocab


def llama_30b() -> tuple[nn.Module, torch.Tensor]:
    """A LLaMA-30B-shaped decoder and a batch of 2048 token ids."""
    model = Decoder(**LLAMA_30B)
    return model, torch.randint(0, LLAMA_30B["vocab"], (1, SEQ))


def tiny_decoder() -> tuple[nn.Module, torch.Tensor]:
    config = {"vocab": 50, "dim": 16, "layers": 2, "heads": 4, "kv_heads": 2, "hidden": 32}
    return Decoder(**config), torch.randint(0, 50, (2, 8))


class TwoInputs(nn.Module):
    """Needs --input twice: an image and a per-sample scale."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(1).sum(1) * scale


def two_inputs() -> nn.Module:
    return TwoInputs()


class Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(4, 4)
        self.faulty = nn.Sequential(nn.Linear(4, 3), nn.Linear(4, 2))  # shapes do not chain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.faulty(self.stem(x))


def broken() -> tuple[nn.Module, torch.Tensor]:
    return Broken(), torch.randn(1, 4)


def not_a_model() -> int:
    return 3
