"""Training loop: steps of a small transformer (forward, backward, AdamW step, zero_grad) run
plain and inside ``StepMeter.step()``, interleaved, median step time. Every metered step but
the first has a known signature, so no counter runs in it: the meter's overhead is its root
pre-hook and two clock reads. The first metered step (counted, not in the medians) is shown
apart, against the plain median."""

from __future__ import annotations

import time

import torch
from torch import nn

from opcount import StepMeter

from .end_to_end import transformer
from .timing import Result, interleaved

NAME = "training_loop"

TARGET = 1.01
"""The largest uncounted-meter / plain ratio of median step times the issue allows."""


def run(quick: bool) -> list[Result]:
    torch.manual_seed(0)
    layers, d, seq, batch, steps = (6, 128, 64, 4, 50) if quick else (6, 256, 128, 8, 50)
    model = transformer(layers, d).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, seq, d)
    meter = StepMeter(model, peak_flops=1e12)  # any peak: the ratio is the point

    def step() -> None:
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    def metered() -> None:
        with meter.step(tokens=batch * seq):
            step()

    # the warm-up round runs the meter's one counted step
    medians = interleaved({"plain": step, "StepMeter": metered}, repeats=steps, warmup=1)
    records = meter.steps
    counted = records[records["counted"]]
    if len(counted) != 1 or not bool(records["counted"].iloc[0]):
        raise RuntimeError(f"expected only step 1 counted, got {records['counted'].tolist()}")
    label = f"transformer {layers}x{d}, seq {seq}, batch {batch}, AdamW, {steps}+{steps} steps"
    plain, uncounted = medians["plain"], medians["StepMeter"]
    ratio = uncounted / plain
    first = float(counted["time_s"].iloc[0])
    overhead = _overhead_per_step(2000 if quick else 20000)
    return [
        Result(NAME, f"{label}: plain step", plain * 1e3, "ms"),
        Result(
            NAME,
            f"{label}: StepMeter, uncounted step",
            uncounted * 1e3,
            "ms",
            ratio,
            f"<= {TARGET:g}x",
            ratio <= TARGET,
        ),
        Result(NAME, f"{label}: StepMeter, counted step 1", first * 1e3, "ms", first / plain),
        Result(
            NAME,
            "StepMeter added per uncounted step (one-Linear model, CPU time)",
            overhead * 1e6,
            "us",
        ),
    ]


def _overhead_per_step(steps: int) -> float:
    """CPU seconds a metered step adds to a step of one tiny Linear: the hook, the signature,
    the clocks and the record (medians of interleaved batches of ``steps`` steps)."""
    layer = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    meter = StepMeter(layer)

    def plain() -> None:
        for _ in range(steps):
            layer(x)

    def metered() -> None:
        for _ in range(steps):
            with meter.step():
                layer(x)

    medians = interleaved({"plain": plain, "StepMeter": metered}, 7, clock=time.thread_time)
    return (medians["StepMeter"] - medians["plain"]) / steps
