"""A whole training step of a small GPT-style transformer counted end to end.

Plain torch only: token and position embeddings, pre-norm blocks of causal self-attention
(``F.scaled_dot_product_attention(is_causal=True)``) and a GELU MLP, a final LayerNorm, an LM
head (tied to the token embedding, or not), ``F.cross_entropy`` and ``torch.optim.AdamW``.
Forward, backward and ``optimizer.step()`` run in one ``OpCounter``: no op is unsupported, the
optimizer's ops are rows of their own (phase and category ``optimizer``, module
``<optimizer>``), the forward's matrix-product and attention MACs equal their closed form, and
``model_flops`` equals the GPT closed form ``72 B s L h^2 (1 + s / 6h + V / 12 L h)`` with the
math and the CPU flash attention backends, checkpointed or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

from opcount import OpCounter
from opcount.formulas.costs import cost


@dataclass(frozen=True)
class Config:
    vocab: int = 96
    block: int = 16  # sequence length
    layers: int = 2
    heads: int = 4
    width: int = 32  # d_model
    batch: int = 3
    tied: bool = True  # LM head shares the token embedding's weight
    checkpointed: bool = False  # every block under torch.utils.checkpoint (use_reentrant=True)


class CausalSelfAttention(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.heads = c.heads
        self.qkv = nn.Linear(c.width, 3 * c.width)
        self.proj = nn.Linear(c.width, c.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (t.view(b, s, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, s, d))


class Block(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(c.width)
        self.attn = CausalSelfAttention(c)
        self.ln2 = nn.LayerNorm(c.width)
        self.mlp = nn.Sequential(
            nn.Linear(c.width, 4 * c.width), nn.GELU(), nn.Linear(4 * c.width, c.width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.tok = nn.Embedding(c.vocab, c.width)
        self.pos = nn.Embedding(c.block, c.width)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln_f = nn.LayerNorm(c.width)
        self.head = nn.Linear(c.width, c.vocab, bias=False)
        if c.tied:
            self.head.weight = self.tok.weight  # weight tying
        self.checkpointed = c.checkpointed

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            # checkpointed: the whole block runs again inside backward
            x = checkpoint(block, x, use_reentrant=True) if self.checkpointed else block(x)
        logits = self.head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def forward_macs(c: Config) -> int:
    """Matrix-product and attention MACs of one forward, in closed form.

    Per layer, over ``T = batch * block`` tokens: qkv ``T d 3d``, attention output projection
    ``T d d``, MLP ``T d 4d + T 4d d`` (``12 T d^2`` in all), and attention ``q k^T`` plus
    ``p v``: ``2 b h s s (d / h) = 2 b s^2 d`` (the causal mask is counted at the full
    ``s x s``); then the LM head ``T d vocab``.
    """
    tokens = c.batch * c.block
    per_layer = 12 * tokens * c.width**2 + 2 * c.batch * c.heads * c.block**2 * (c.width // c.heads)
    return c.layers * per_layer + tokens * c.width * c.vocab


def run_step(c: Config, optimizer_kind: str) -> tuple[OpCounter, GPT]:
    model = GPT(c)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, **{optimizer_kind: True})
    idx = torch.randint(c.vocab, (c.batch, c.block))
    targets = torch.randint(c.vocab, (c.batch, c.block))
    with OpCounter(model, strict=True) as counter:
        loss = model(idx, targets)
        loss.backward()
        optimizer.step()
    return counter, model


@pytest.mark.parametrize("optimizer_kind", ["foreach", "fused"])
def test_training_step_counted_end_to_end(optimizer_kind: str) -> None:
    c = Config()
    counter, model = run_step(c, optimizer_kind)  # strict: any unsupported op raises
    assert counter.complete
    rows = counter.to_dataframe()
    assert set(rows["status"]) <= {"counted", "free"}

    # the forward's products: Linear layers, the LM head and attention
    forward = rows[(rows["phase"] == "forward") & (rows["module"] != "<outside>")]
    assert int(forward["macs"].sum()) == forward_macs(c)
    assert set(forward.loc[forward["macs"] > 0, "category"]) == {"matmul", "attention"}

    # the optimizer: after the last backward row, in rows of its own (torch's step wrapper emits
    # two free profiler markers just outside the step hooks)
    last_backward = int(rows.loc[rows["phase"] == "backward", "seq"].max())
    step = rows[(rows["seq"] > last_backward) & ~rows["op"].str.startswith("profiler.")]
    assert set(step["module"]) == {"<optimizer>"}
    assert set(step["module_type"]) == {"AdamW"}
    assert set(step["phase"]) == {"optimizer"}
    assert set(step["category"]) == {"optimizer"}
    assert set(rows.loc[rows["phase"] == "optimizer", "seq"]) == set(step["seq"])
    arithmetic = step[step["flops"] > 0]
    # foreach: _foreach_mul_, _foreach_lerp_, ...; fused: _fused_adamw_ (both count the step
    # with _foreach_add_)
    assert all(op.startswith(("aten._foreach_", "aten._fused_adamw")) for op in arithmetic["op"])
    # the first step also creates the state (exp_avg, exp_avg_sq, step): zero fills, no FLOPs
    state = step[step["op"].isin(["aten.zeros", "aten.zeros_like"])]
    assert len(state) > 0
    assert int(state["flops"].sum()) == 0
    assert int(step["macs"].sum()) == 0
    if optimizer_kind == "fused":
        # per parameter element one AdamW step plus its decoupled weight-decay multiply; per
        # parameter tensor step += 1 (the tied weight is one parameter)
        params = list(model.parameters())
        elements = sum(p.numel() for p in params)
        expected = elements * (cost("adam") + cost("mul")) + len(params) * cost("add")
        assert int(step["flops"].sum()) == expected


def test_closed_form_tracks_the_shape() -> None:
    # the closed form is not fitted to one configuration: a wider, deeper model agrees too
    c = Config(vocab=50, block=8, layers=3, heads=2, width=24, batch=2)
    counter, _ = run_step(c, "fused")
    rows = counter.to_dataframe()
    forward = rows[(rows["phase"] == "forward") & (rows["module"] != "<outside>")]
    assert int(forward["macs"].sum()) == forward_macs(c)


# -- model FLOPs and hardware FLOPs --------------------------------------------------------------


def gpt_model_flops(c: Config) -> int:
    """``72 B s L h^2 (1 + s / (6 h) + V / (12 L h))``: 3 x 2 x the forward MACs (backward runs
    twice the forward's products), the Megatron-LM closed form (Narayanan et al. 2021) with a
    vocabulary of V and no recomputation, multiplied out so it stays an integer."""
    b, s, layers, h, v = c.batch, c.block, c.layers, c.width, c.vocab
    return 72 * b * s * layers * h * h + 12 * b * s * s * layers * h + 6 * b * s * v * h


def flash_recompute_macs(c: Config) -> int:
    """The products the fused attention backward recomputes: ``q @ k^T`` of every layer."""
    return c.layers * c.batch * c.heads * c.block * c.block * (c.width // c.heads)


def block_forward_macs(c: Config) -> int:
    """Forward MACs of the blocks alone: what a checkpointed block runs again."""
    tokens = c.batch * c.block
    return c.layers * (12 * tokens * c.width**2 + 2 * c.batch * c.block**2 * c.width)


def step_counter(c: Config, backend: str) -> OpCounter:
    torch.manual_seed(0)
    model = GPT(c)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.randint(c.vocab, (c.batch, c.block))
    targets = torch.randint(c.vocab, (c.batch, c.block))
    backends = [SDPBackend.MATH] if backend == "math" else [SDPBackend.FLASH_ATTENTION]
    with sdpa_kernel(backends), OpCounter(model, strict=True) as counter:
        model(idx, targets).backward()
        optimizer.step()
        optimizer.zero_grad()
    return counter


@pytest.mark.parametrize("checkpointed", [False, True], ids=["plain", "checkpointed"])
@pytest.mark.parametrize("backend", ["math", "flash"])
def test_model_flops_closed_form(backend: str, checkpointed: bool) -> None:
    c = Config(tied=False, checkpointed=checkpointed)
    counter = step_counter(c, backend)
    rows = counter.to_dataframe()
    attention_ops = set(rows.loc[rows["category"] == "attention", "op"])
    if backend == "flash":  # the CPU default: the fused kernel, recomputing the scores
        assert "aten._scaled_dot_product_flash_attention_for_cpu_backward" in attention_ops
        recomputed = flash_recompute_macs(c)
    else:  # the math backend stores the probabilities: plain bmm's, nothing recomputed
        assert not attention_ops
        recomputed = 0
    assert int(rows["recompute_macs"].sum()) == recomputed
    assert counter.model_flops == gpt_model_flops(c)
    checkpoint_macs = block_forward_macs(c) if checkpointed else 0
    assert int(rows.loc[rows["phase"] == "recompute", "macs"].sum()) == checkpoint_macs
    assert counter.hardware_flops == gpt_model_flops(c) + 2 * recomputed + 2 * checkpoint_macs
    # both totals from the rows with pandas, as the README says
    model = rows[rows["phase"].isin(["forward", "backward"])]
    assert 2 * int(model["macs"].sum() - model["recompute_macs"].sum()) == counter.model_flops
    hardware = rows[rows["phase"] != "optimizer"]
    assert 2 * int(hardware["macs"].sum()) == counter.hardware_flops
    assert "model FLOPs:" in str(counter)  # the printed summary of a training step


def test_gpt_closed_form_is_not_fitted() -> None:
    c = Config(vocab=40, block=12, layers=3, heads=3, width=24, batch=2, tied=False)
    assert step_counter(c, "flash").model_flops == gpt_model_flops(c)
    assert step_counter(c, "math").model_flops == gpt_model_flops(c)
