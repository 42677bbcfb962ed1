"""Meta-device scale: a Llama-2-70B-shaped decoder counted forward and backward on ``meta``.

Runs in a subprocess (``python -m benchmarks.meta_scale LAYERS``) so its peak RSS is its own.
The totals are checked exactly against a closed form:

- forward MACs = (weights in matmuls) x tokens + layers x 2 x batch x heads x seq^2 x head_dim:
  every ``nn.Linear`` multiplies each token by its weight once; attention runs ``q @ k^T`` and
  ``p @ v`` over the full ``seq x seq`` score matrix (the causal mask is applied, not skipped);
- backward MACs = 2 x forward MACs: every product here has two operands that need a gradient
  (activations and weights; for attention q, k and v), and each operand's gradient is one
  product of the same size. The relation is checked on the measured backward rows.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .timing import Result, under_limit

NAME = "meta_scale"


@dataclass(frozen=True)
class Shape:
    """Llama-2-70B by default."""

    layers: int = 80
    d: int = 8192
    heads: int = 64
    kv_heads: int = 8
    ffn: int = 28672
    vocab: int = 32000
    seq: int = 4096
    batch: int = 1

    @property
    def head_dim(self) -> int:
        return self.d // self.heads

    def matmul_weights(self) -> int:
        """Elements of every weight used in a matmul (the embedding is a lookup, not one)."""
        kv = self.kv_heads * self.head_dim
        attention = self.d * self.d * 2 + self.d * kv * 2  # q, o; k, v
        mlp = 3 * self.d * self.ffn  # gate, up, down
        return self.layers * (attention + mlp) + self.d * self.vocab  # + lm head

    def forward_macs(self) -> int:
        tokens = self.batch * self.seq
        # per layer: q @ k^T [b,h,s,hd]x[b,h,hd,s] and p @ v [b,h,s,s]x[b,h,s,hd]
        attention = 2 * self.batch * self.heads * self.seq * self.seq * self.head_dim
        return self.matmul_weights() * tokens + self.layers * attention


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary position embedding on interleaved pairs of ``x``'s last dim."""
    x1, x2 = x[..., ::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, s: Shape) -> None:
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = s.heads, s.kv_heads, s.head_dim
        kv = s.kv_heads * s.head_dim
        self.q = nn.Linear(s.d, s.d, bias=False)
        self.k = nn.Linear(s.d, kv, bias=False)
        self.v = nn.Linear(s.d, kv, bias=False)
        self.o = nn.Linear(s.d, s.d, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        out: Tensor = self.o(y.transpose(1, 2).reshape(b, t, -1))
        return out


class SwiGLU(nn.Module):
    def __init__(self, s: Shape) -> None:
        super().__init__()
        self.gate = nn.Linear(s.d, s.ffn, bias=False)
        self.up = nn.Linear(s.d, s.ffn, bias=False)
        self.down = nn.Linear(s.ffn, s.d, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.down(F.silu(self.gate(x)) * self.up(x))
        return out


class Block(nn.Module):
    def __init__(self, s: Shape) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(s.d)
        self.attention = Attention(s)
        self.mlp_norm = RMSNorm(s.d)
        self.mlp = SwiGLU(s)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin)
        out: Tensor = x + self.mlp(self.mlp_norm(x))
        return out


class Decoder(nn.Module):
    """A Llama-style decoder from plain torch: RMSNorm, rotary, GQA attention, SwiGLU."""

    def __init__(self, s: Shape) -> None:
        super().__init__()
        self.head_dim = s.head_dim
        self.embed = nn.Embedding(s.vocab, s.d)
        self.layers = nn.ModuleList(Block(s) for _ in range(s.layers))
        self.norm = RMSNorm(s.d)
        self.lm_head = nn.Linear(s.d, s.vocab, bias=False)

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device, dtype=torch.float32)
        half = torch.arange(0, self.head_dim, 2, device=ids.device, dtype=torch.float32)
        angles = torch.outer(positions, 1.0 / 10000 ** (half / self.head_dim))
        cos, sin = angles.cos(), angles.sin()
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.norm(x))  # type: ignore[no-any-return]


def peak_rss_mib() -> float:
    """Peak resident memory of this process, in MiB.

    Read from ``VmHWM`` of ``/proc/self/status`` where there is one: ``ru_maxrss`` of a
    process started by fork and exec also counts the parent's memory copied at the fork.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(layers: int) -> dict[str, float | int | bool]:
    """Build, count and check one decoder; the numbers the parent reports."""
    import warnings

    from opcount import OpCounter

    shape = Shape(layers=layers)
    start = time.perf_counter()
    with torch.device("meta"):
        model = Decoder(shape)
        ids = torch.zeros(shape.batch, shape.seq, dtype=torch.long)
    built = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unsupported op would make the check meaningless
        with OpCounter() as counter:
            model(ids).sum().backward()
    counted = time.perf_counter()
    rows = counter.to_dataframe()
    reported = time.perf_counter()
    forward = int(rows.loc[rows["phase"] == "forward", "macs"].sum())
    backward = int(rows.loc[rows["phase"] == "backward", "macs"].sum())
    expected = shape.forward_macs()
    return {
        "layers": layers,
        "rows": len(rows),
        "build_s": built - start,
        "count_s": counted - built,
        "report_s": reported - counted,
        "peak_rss_mib": peak_rss_mib(),
        "forward_macs": forward,
        "expected_forward_macs": expected,
        "backward_macs": backward,
        "forward_exact": forward == expected,
        "backward_exact": backward == 2 * expected,
        "total_flops": counter.total_flops,
    }


def run_child(module: str, layers: int) -> dict[str, Any]:
    """Run ``python -m module LAYERS`` in a fresh process (so its peak RSS is its own) and
    return the JSON object it prints last."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", module, str(layers)],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(quick: bool) -> list[Result]:
    from . import meta_generation  # it reuses Shape and peak_rss_mib from here

    layers = 8 if quick else 80
    r = run_child("benchmarks.meta_scale", layers)
    full = not quick
    label = f"{layers}-layer decoder"
    gib = r["peak_rss_mib"] / 1024
    return [
        Result(NAME, f"{label}: build on meta", r["build_s"], "s"),
        under_limit(
            NAME,
            f"{label}: count forward + backward ({r['rows']:,} rows)",
            r["count_s"],
            "s",
            10,
            judged=full,
        ),
        Result(NAME, f"{label}: to_dataframe() of those rows", r["report_s"], "s"),
        under_limit(NAME, f"{label}: peak RSS of the process", gib, "GiB", 2, judged=full),
        Result(
            NAME,
            f"{label}: forward MACs = closed form",
            r["forward_macs"],
            "MACs",
            None,
            f"= {r['expected_forward_macs']:,}",
            bool(r["forward_exact"]),
        ),
        Result(
            NAME,
            f"{label}: backward MACs = 2 x forward MACs",
            r["backward_macs"],
            "MACs",
            None,
            f"= {2 * r['expected_forward_macs']:,}",
            bool(r["backward_exact"]),
        ),
        Result(NAME, f"{label}: total FLOPs, forward + backward", r["total_flops"], "FLOPs"),
        *meta_generation.run(quick),  # a 70B-shaped HF config's prefill and decode steps
    ]


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]))))
