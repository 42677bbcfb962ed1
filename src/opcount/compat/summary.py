"""pytorch-model-summary's ``summary``, with opcount's numbers.

``from opcount.compat.summary import summary`` replaces ``from pytorch_model_summary import
summary``: same arguments, returns the table as a string. The table is opcount's module tree
with shapes, kernel shapes, parameters (each counted once), MACs and FLOPs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from ..errors import check_bool, check_count
from ..reports.format import format_count
from ..reports.params import count_params
from ._run import count_forward


def summary(
    model: nn.Module,
    *inputs: Any,
    batch_size: int = -1,
    show_input: bool = False,
    show_hierarchical: bool = False,
    print_summary: bool = False,
    max_depth: int | None = 1,
    show_parent_layers: bool = False,
    kwargs: Mapping[str, Any] | None = None,
) -> str:
    """The summary table of one inference forward of ``model(*inputs, **kwargs)``.

    Args:
        model: the model; left as found (train/eval flags restored, nothing attached).
        inputs: the model's positional arguments (tensors or anything else).
        batch_size: accepted for compatibility; shapes are printed as run.
        show_input: show each module's input shape instead of its output shape.
        show_hierarchical: also show the whole module tree, every depth.
        print_summary: print the table as well as returning it.
        max_depth: deepest module level in the table (``None``: all).
        show_parent_layers: accepted for compatibility; the tree shows each module's parents.
        kwargs: keyword arguments for the model (an opcount addition).

    Returns:
        The table as a string.
    """
    for name, value in (
        ("show_input", show_input),
        ("show_hierarchical", show_hierarchical),
        ("print_summary", print_summary),
        ("show_parent_layers", show_parent_layers),
    ):
        check_bool(name, value)
    check_count("batch_size", batch_size, minimum=-1)
    check_count("max_depth", max_depth, none=True)
    del batch_size, show_parent_layers  # shapes are printed as run; the tree names parents
    counter, _ = count_forward(model, inputs, kwargs)
    columns = ["type", "input" if show_input else "output", "kernel", "params", "macs", "flops"]
    parts = [counter.table(depth=max_depth, columns=[*columns, "share"], width=None)]
    total = counter.num_params
    trainable = count_params(model, trainable_only=True)
    parts.append(
        f"Total params: {format_count(total)}\n"
        f"Trainable params: {format_count(trainable)}\n"
        f"Non-trainable params: {format_count(total - trainable)}"
    )
    if show_hierarchical:
        parts.append(counter.table(depth=None, columns=["type", "params", "macs"], width=None))
    text = "\n\n".join(parts)
    if print_summary:
        print(text)
    return text
