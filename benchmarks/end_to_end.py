"""End to end: real models run plain, under an empty mode, under opcount and under
FlopCounterMode, interleaved; ratios are against the plain run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .timing import Result, interleaved
from .variants import DEFAULT_VARIANTS, instrumented

NAME = "end_to_end"
TIMED = "opcount, timing=True"


class MixerBlock(nn.Module):
    """One MLP-mixer layer: token mixing across patches, then channel mixing."""

    def __init__(self, tokens: int, dim: int, token_hidden: int, channel_hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.token_mix = nn.Sequential(
            nn.Linear(tokens, token_hidden), nn.GELU(), nn.Linear(token_hidden, tokens)
        )
        self.norm2 = nn.LayerNorm(dim)
        self.channel_mix = nn.Sequential(
            nn.Linear(dim, channel_hidden), nn.GELU(), nn.Linear(channel_hidden, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.token_mix(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        out: Tensor = x + self.channel_mix(self.norm2(x))
        return out


def mixer(layers: int = 24, tokens: int = 16, dim: int = 64) -> nn.Module:
    """A small MLP-mixer: many layers of small ops, the worst case for per-op overhead."""
    return nn.Sequential(
        *(MixerBlock(tokens, dim, tokens * 2, dim * 2) for _ in range(layers)),
        nn.LayerNorm(dim),
    )


def transformer(layers: int = 6, d: int = 256, heads: int = 8) -> nn.Module:
    """Plain ``nn.TransformerEncoder`` (training mode, so the unfused path with dropout)."""
    layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


@dataclass(frozen=True)
class Workload:
    name: str
    make: Callable[[bool], Callable[[], object]]
    target: float | None
    """The largest opcount/plain ratio allowed, where the issue sets one."""
    repeats: tuple[int, int]
    """(quick, full)."""


def _resnet50(batch: int) -> Callable[[bool], Callable[[], object]]:
    def make(quick: bool) -> Callable[[], object]:
        import torchvision

        model = torchvision.models.resnet50().eval()
        x = torch.randn(batch, 3, 224, 224)

        def step() -> object:
            with torch.no_grad():
                return model(x)

        return step

    return make


def _forward_backward(
    build: Callable[[], nn.Module], shape: tuple[int, ...]
) -> Callable[[bool], Callable[[], object]]:
    def make(quick: bool) -> Callable[[], object]:
        model = build().train()
        x = torch.randn(*shape)

        def step() -> object:
            model.zero_grad(set_to_none=True)
            loss = model(x).sum()
            loss.backward()
            return loss

        return step

    return make


WORKLOADS = (
    Workload("resnet50 forward, batch 1 (eval, no_grad)", _resnet50(1), 1.15, (3, 15)),
    Workload("resnet50 forward, batch 8 (eval, no_grad)", _resnet50(8), None, (3, 7)),
    Workload(
        "transformer 6x256, seq 128, batch 8, fwd+bwd",
        _forward_backward(transformer, (8, 128, 256)),
        1.10,
        (3, 11),
    ),
    Workload(
        "MLP-mixer 24x64, 16 tokens, batch 4, fwd+bwd",
        _forward_backward(mixer, (4, 16, 64)),
        None,
        (3, 15),
    ),
)


def run(quick: bool) -> list[Result]:
    results = []
    for workload in WORKLOADS:
        torch.manual_seed(0)
        step = workload.make(quick)
        names = (*DEFAULT_VARIANTS, TIMED)
        medians = interleaved(instrumented(step, names), workload.repeats[0 if quick else 1])
        plain = medians["plain"]
        results.append(Result(NAME, f"{workload.name}: plain", plain * 1e3, "ms"))
        for name in ("empty mode", "FlopCounterMode"):
            results.append(
                Result(
                    NAME,
                    f"{workload.name}: {name}",
                    medians[name] * 1e3,
                    "ms",
                    medians[name] / plain,
                )
            )
        ratio = medians["opcount"] / plain
        faster = medians["opcount"] < medians["FlopCounterMode"]
        if workload.target is None:
            target, met = "< FlopCounterMode", faster
        else:
            target = f"<= {workload.target:g}x and < FlopCounterMode"
            met = faster and ratio <= workload.target
        results.append(
            Result(
                NAME,
                f"{workload.name}: opcount",
                medians["opcount"] * 1e3,
                "ms",
                ratio,
                target,
                met,
            )
        )
        # measured time per op: reported, no target (its cost is the clock reads and, on
        # CUDA, two events per op)
        timed = medians[TIMED]
        results.append(
            Result(NAME, f"{workload.name}: {TIMED}", timed * 1e3, "ms", timed / plain)
        )
    return results
