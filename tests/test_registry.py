"""The formula registry: keys, duplicates, user formulas and per-counter overrides."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import opcount
from helpers import count, only_row
from opcount import OpCounter, OpCountError, register_formula
from opcount.formulas import REGISTRY, Registry, to_packet
from opcount.formulas.matmul import mm


def test_keys_normalise_to_overload_packets() -> None:
    packet = torch.ops.aten.mm
    assert to_packet(packet) is packet
    assert to_packet(torch.ops.aten.mm.default) is packet
    assert to_packet("aten.mm") is packet
    assert to_packet("aten::mm") is packet


@pytest.mark.parametrize("bad", ["aten.no_such_op", "mm", 42, None])
def test_bad_keys_are_named_in_the_error(bad: object) -> None:
    with pytest.raises(OpCountError, match=repr(bad) if isinstance(bad, str) else "formula key"):
        to_packet(bad)  # type: ignore[arg-type]


def test_duplicates_are_refused_unless_overridden() -> None:
    registry = Registry()
    registry.add(torch.ops.aten.mm, mm, "matmul")
    with pytest.raises(OpCountError, match="already registered"):
        registry.add("aten.mm", mm, "matmul")
    registry.add("aten.mm", mm, "matmul", override=True)
    with pytest.raises(OpCountError, match="unknown category 'maths'"):
        registry.add("aten.bmm", mm, "maths")


def test_every_builtin_key_is_a_packet() -> None:
    assert all(isinstance(p, torch._ops.OpOverloadPacket) for p in REGISTRY.packets())


def test_register_formula_returns_the_function_and_counts_a_custom_op() -> None:
    lib = torch.library.Library("opcount_test", "DEF")
    lib.define("scale(Tensor x) -> Tensor")
    lib.impl("scale", lambda x: x * 2, "CompositeExplicitAutograd")

    def scale_cost(args: Any, kwargs: Any, out: Any) -> tuple[int, int]:
        return int(args[0].numel()), 0  # one multiply per element

    returned = register_formula(torch.ops.opcount_test.scale, category="elementwise")(scale_cost)
    assert returned is scale_cost
    x = torch.randn(3, 4)
    row = only_row(count(lambda: torch.ops.opcount_test.scale(x)), "opcount_test.scale")
    assert (row.status, row.flops, row.category) == ("counted", 12, "elementwise")
    with pytest.raises(OpCountError, match="already registered"):
        register_formula("opcount_test.scale")(scale_cost)


def test_per_counter_override_beats_the_builtin_and_keeps_its_category() -> None:
    a, b = torch.randn(2, 3), torch.randn(3, 4)
    counter = count(lambda: torch.mm(a, b), formulas={"aten.mm": lambda *_: (1, 1)})
    row = only_row(counter, "aten.mm")
    assert (row.flops, row.macs, row.category) == (1, 1, "matmul")
    # the default registry is untouched
    assert only_row(count(lambda: torch.mm(a, b)), "aten.mm").macs == 24


def test_override_value_must_be_callable() -> None:
    with pytest.raises(OpCountError, match="must be callable"):
        OpCounter(formulas={"aten.mm": 3})


def test_a_failing_formula_is_reported_not_raised() -> None:
    def broken(args: Any, kwargs: Any, out: Any) -> tuple[int, int]:
        raise ValueError("boom")

    a, b = torch.randn(2, 3), torch.randn(3, 4)
    counter = count(lambda: torch.mm(a, b), formulas={"aten.mm": broken})
    assert only_row(counter, "aten.mm").status == "unsupported"
    table = counter.unsupported_ops()
    assert "ValueError: boom" in table.loc[table["op"] == "aten.mm", "reason"].item()
    assert not counter.complete


def test_costs_override_and_validation() -> None:
    layer = torch.nn.Linear(4, 5)
    x = torch.randn(2, 4)
    default = count(lambda: layer(x)).total_flops
    free_bias = count(lambda: layer(x), costs={"bias_add": 0}).total_flops
    assert default - free_bias == 2 * 5  # one add per output element
    with pytest.raises(OpCountError, match="unknown cost 'bias'"):
        OpCounter(costs={"bias": 1})
    with pytest.raises(OpCountError, match="non-negative int"):
        OpCounter(costs={"bias_add": -1})
    assert opcount.DEFAULT_COSTS["bias_add"] == 1
