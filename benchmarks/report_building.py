"""Report building on a million rows: ``to_dataframe()``, ``by_module()``, ``to_csv()`` and
``to_html()``.

The rows are recorded through the real path: a small transformer runs forward and backward
again and again inside one ``OpCounter`` until the store holds the wanted number of rows, so
they carry real op names, shapes, module calls, phases and ``fwd_seq`` links. Each timed call
starts from rows not yet built (the counter caches its DataFrame), so every line includes
building the DataFrame.
"""

from __future__ import annotations

import os
import tempfile
import time

import torch

from opcount import OpCounter

from .end_to_end import transformer
from .timing import Result, interleaved, under_limit
from .variants import opcount_counter

NAME = "report"


def filled_counter(rows: int) -> tuple[OpCounter, float]:
    """An OpCounter holding at least ``rows`` real rows, and the seconds recording took."""
    torch.manual_seed(0)
    model = transformer(layers=2, d=32, heads=2).train()
    x = torch.randn(2, 8, 32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ops this small only lose time to a second thread
    try:
        start = time.perf_counter()
        with opcount_counter() as counter:
            while len(counter._require_run().events) < rows:
                model(x).sum().backward()
        return counter, time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)


def run(quick: bool) -> list[Result]:
    rows, repeats = (100_000, 1) if quick else (1_000_000, 3)
    counter, recording = filled_counter(rows)
    n = len(counter._require_run().events)
    label = f"{n:,} rows"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "rows.csv")

        def cold() -> None:
            counter._rows = None  # to_dataframe caches its frame; time building it

        def to_dataframe() -> None:
            cold()
            counter.to_dataframe()

        def by_module() -> None:
            cold()
            counter.by_module()

        def to_csv() -> None:
            cold()
            counter.to_csv(path)

        def to_html() -> None:
            cold()
            counter.to_html(os.path.join(folder, "report.html"))

        medians = interleaved(
            {
                "to_dataframe": to_dataframe,
                "by_module": by_module,
                "to_csv": to_csv,
                "to_html": to_html,
            },
            repeats,
            warmup=0,
        )
    full = not quick
    return [
        Result(NAME, f"recording {label} (small transformer fwd+bwd, repeated)", recording, "s"),
        under_limit(NAME, f"to_dataframe(), {label}", medians["to_dataframe"], "s", 1, judged=full),
        Result(NAME, f"by_module(), {label}, rows not yet built", medians["by_module"], "s"),
        under_limit(
            NAME, f"to_csv(), {label}, rows not yet built", medians["to_csv"], "s", 5, judged=full
        ),
        Result(NAME, f"to_html(), {label}, rows not yet built", medians["to_html"], "s"),
    ]
