"""Options are checked before they bite: a non-bool for a boolean option, or a bad count,
raises OpCountError naming the option and the value (``strict="no"`` would be truthy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import opcount
from opcount import OpCounter, OpCountError, count_params, plot_modules, register_formula
from opcount.compat.ptflops import get_model_complexity_info
from opcount.compat.summary import summary
from opcount.compat.thop import profile


@pytest.mark.parametrize("option", ["strict", "warn", "record_shapes"])
@pytest.mark.parametrize("value", ["yes", "no", 1, 0, None])
def test_counter_rejects_non_bool_options(option: str, value: Any) -> None:
    with pytest.raises(OpCountError, match=rf"{option} must be True or False, got {value!r}"):
        OpCounter(**{option: value})


def test_counter_accepts_bools() -> None:
    with OpCounter(strict=True, warn=False, record_shapes=False) as counter:
        torch.ones(2).sum()
    assert (counter.strict, counter.warn, counter.record_shapes) == (True, False, False)
    assert counter.complete


def counted() -> OpCounter:
    model = nn.Linear(3, 2)
    with OpCounter(model) as counter:
        model(torch.ones(1, 3))
    return counter


CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("count_params", lambda: count_params(nn.Linear(2, 2), trainable_only="yes"), "trainable_only"),
    ("register_formula", lambda: register_formula("aten.mm", override="yes"), "override"),
    ("by_module", lambda: counted().by_module(depth="1"), "depth"),
    ("by_module bool", lambda: counted().by_module(depth=True), "depth"),
    ("table depth", lambda: counted().table(depth=-1), "depth"),
    ("table width", lambda: counted().table(width=0), "width"),
    ("to_latex", lambda: counted().to_latex(digits="2"), "digits"),
    ("to_markdown", lambda: counted().to_markdown(depth=None), "depth"),  # type: ignore[arg-type]
    ("plot_modules", lambda: plot_modules(counted(), top=0), "top"),
    ("thop", lambda: profile(nn.Linear(2, 2), (torch.ones(1, 2),), verbose="no"), "verbose"),
    (
        "ptflops",
        lambda: get_model_complexity_info(nn.Linear(2, 2), (2,), as_strings="no"),
        "as_strings",
    ),
    ("summary", lambda: summary(nn.Linear(2, 2), torch.ones(1, 2), show_input=1), "show_input"),
    (
        "summary depth",
        lambda: summary(nn.Linear(2, 2), torch.ones(1, 2), max_depth="1"),
        "max_depth",
    ),
]


@pytest.mark.parametrize(
    ("call", "option"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_public_functions_name_the_bad_option(call: Callable[[], Any], option: str) -> None:
    with pytest.raises(OpCountError, match=rf"^{option} must be "):
        call()


def test_registry_is_unchanged_by_a_refused_override() -> None:
    before = len(opcount.formulas.REGISTRY)
    with pytest.raises(OpCountError):
        register_formula("aten.mm", override="yes")
    assert len(opcount.formulas.REGISTRY) == before
