"""Per-op interception cost on tiny ops: what a dispatch mode adds to each aten call.

The work is a loop over six tiny ops of different kinds (pointwise add and mul, an activation,
a free view, a reduction and a 4x4 matmul), so the cost is an average over the formula paths a
real model takes, not the cheapest one. The calls repeat, so opcount reuses their rows; the
"no reuse" variant measures every call, as a run whose calls never repeat would. The
"recording floor" variant keeps only the op, its input shapes, dtype and device and the two
attribution reads per call: about the least a counter recording every column adds. Overhead per
op = (time in the mode - plain time) / ops, timed in CPU time of this thread (all of it runs
on one thread).
"""

from __future__ import annotations

import time

import torch

from .timing import Result, interleaved
from .variants import DEFAULT_VARIANTS, instrumented

NAME = "per_op"
OPS_PER_ROUND = 6


def _work(rounds: int) -> None:
    a, b, m = torch.randn(4), torch.randn(4), torch.randn(4, 4)
    for _ in range(rounds):
        x = torch.add(a, b)
        y = torch.mul(x, b)
        z = torch.relu(y)
        w = z.view(2, 2)
        w.sum()
        torch.mm(m, m)


def run(quick: bool) -> list[Result]:
    rounds, repeats = (300, 5) if quick else (3000, 21)
    ops = rounds * OPS_PER_ROUND
    variants = (*DEFAULT_VARIANTS, "opcount, no reuse", "recording floor")
    cases = instrumented(lambda: _work(rounds), variants)
    medians = interleaved(cases, repeats, clock=time.thread_time)
    plain = medians["plain"]
    per_op = {name: (seconds - plain) / ops * 1e6 for name, seconds in medians.items()}
    results = [Result(NAME, "plain aten call (6 tiny ops, mean)", plain / ops * 1e6, "us/op")]
    for name in variants[1:]:
        ratio = medians[name] / plain
        results.append(Result(NAME, f"{name}: added per op", per_op[name], "us/op", ratio))
    to_empty = per_op["opcount"] / per_op["empty mode"]
    to_flop = per_op["opcount"] / per_op["FlopCounterMode"]
    results.append(
        Result(
            NAME,
            "opcount added / empty mode added",
            to_empty,
            "x",
            None,
            "<= 1.5x",
            to_empty <= 1.5,
        )
    )
    results.append(
        Result(
            NAME,
            "opcount added / FlopCounterMode added",
            to_flop,
            "x",
            None,
            "<= 0.25x",
            to_flop <= 0.25,
        )
    )
    floor = per_op["recording floor"]
    results.append(
        Result(
            NAME,
            "recording floor added / empty mode added",
            floor / per_op["empty mode"],
            "x",
        )
    )
    results.append(
        Result(
            NAME,
            "recording floor added / FlopCounterMode added",
            floor / per_op["FlopCounterMode"],
            "x",
        )
    )
    return results
