"""The counter only observes: results bit-identical, hooks and mode gone after errors,
re-entry gives fresh counts, nesting with other dispatch modes works."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.nn.modules import module as module_globals
from torch.utils._python_dispatch import _get_current_dispatch_mode
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import resnet18

from helpers import count
from opcount import OpCounter, OpCountError, UnsupportedOpError


def hook_counts() -> tuple[int, int]:
    return (
        len(module_globals._global_forward_pre_hooks),
        len(module_globals._global_forward_hooks),
    )


class Exploding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inner(x)
        raise RuntimeError("user error inside forward")


def test_hooks_removed_and_mode_popped_when_forward_raises() -> None:
    before = hook_counts()
    counter = OpCounter()
    with pytest.raises(RuntimeError, match="user error inside forward"), counter:
        Exploding()(torch.randn(2, 4))
    assert hook_counts() == before
    assert _get_current_dispatch_mode() is None
    assert counter.total_macs == 2 * 4 * 4  # what ran before the error is kept
    # usable again afterwards
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with counter:
            nn.Linear(4, 4)(torch.randn(1, 4))
    assert counter.total_macs == 16


def test_outputs_and_grads_are_bit_identical() -> None:
    torch.manual_seed(0)
    model = resnet18(weights=None)
    x = torch.randn(2, 3, 64, 64)

    def step() -> tuple[torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        out = model(x)
        out.square().mean().backward()
        return out.detach().clone(), [p.grad.clone() for p in model.parameters()]

    plain_out, plain_grads = step()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(model):
            counted_out, counted_grads = step()
    assert torch.equal(plain_out, counted_out)
    assert all(torch.equal(a, b) for a, b in zip(plain_grads, counted_grads))


def test_reentry_gives_fresh_counts() -> None:
    layer = nn.Linear(4, 5)
    counter = OpCounter()
    for batch in (1, 3):
        x = torch.randn(batch, 4)
        with counter:
            layer(x)
        assert counter.total_macs == batch * 4 * 5


def test_entering_an_active_counter_twice_is_refused() -> None:
    counter = OpCounter()
    with counter, pytest.raises(OpCountError, match="already counting"), counter:
        pass


def test_two_counters_nested_both_count() -> None:
    layer = nn.Linear(4, 5)
    x = torch.randn(2, 4)
    with OpCounter() as outer, OpCounter() as inner:
        layer(x)
    assert outer.total_macs == inner.total_macs == 2 * 4 * 5


def test_nests_inside_fake_tensor_mode_and_beside_flop_counter() -> None:
    layer = nn.Linear(16, 32)
    with FakeTensorMode() as fake:
        x = fake.from_tensor(torch.randn(8, 16))
        fake_layer_w = fake.from_tensor(layer.weight)
        fake_layer_b = fake.from_tensor(layer.bias)
        with OpCounter() as counter:
            torch.nn.functional.linear(x, fake_layer_w, fake_layer_b)
    assert counter.total_macs == 8 * 16 * 32
    flop_counter = FlopCounterMode(display=False)
    with flop_counter, OpCounter() as counter:
        layer(torch.randn(8, 16))
    assert counter.total_macs == 8 * 16 * 32
    assert flop_counter.get_total_flops() == 2 * 8 * 16 * 32


def test_counts_a_compiled_function_without_being_traced() -> None:
    """torch.compile runs its graph's ops through the counter, and never traces the counter's
    own code (its handler stays wrapped in torch._dynamo.disable): no new frame compiled."""
    from torch._dynamo.utils import counters

    compiled = torch.compile(lambda a, b: (a @ b).relu() * 2, backend="eager")
    a, b = torch.randn(4, 5), torch.randn(5, 3)
    compiled(a, b)
    frames = dict(counters["frames"])
    with OpCounter() as counter:
        compiled(a, b)
    assert list(counter.to_dataframe().op) == ["aten.mm", "aten.relu", "aten.mul"]
    assert counter.total_macs == 4 * 5 * 3
    assert dict(counters["frames"]) == frames


def test_symbolic_sizes_are_recorded_with_their_shapes() -> None:
    """A backed symbolic batch size (as under torch.compile's dynamic shapes) does not hash;
    its rows still get the right shapes, counts and bytes."""
    from torch._dynamo.source import ConstantSource
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv

    env = ShapeEnv()
    with FakeTensorMode(shape_env=env):
        symbol = env.create_symbol(3, ConstantSource("batch"), dynamic_dim=DimDynamic.DYNAMIC)
        x = torch.empty(env.create_symintnode(symbol, hint=3), 8)
        weight = torch.empty(8, 4)
        with OpCounter() as counter:
            (x @ weight).relu()
    frame = counter.to_dataframe().set_index("op")
    mm = frame.loc["aten.mm"]
    assert (mm.macs, mm.shapes, mm.bytes_read) == (3 * 8 * 4, "[[3, 8], [8, 4]]", (24 + 32) * 4)
    assert frame.loc["aten.relu"].shapes == "[[3, 4]]"


def test_unsupported_ops_warn_once_and_strict_raises_with_their_names() -> None:
    lib = torch.library.Library("opcount_safety", "DEF")
    lib.define("mystery(Tensor x) -> Tensor")
    lib.impl("mystery", lambda x: x + 1, "CompositeExplicitAutograd")
    x = torch.randn(3)
    def twice() -> None:
        torch.ops.opcount_safety.mystery(x)
        torch.ops.opcount_safety.mystery(x)

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        with OpCounter():
            twice()
    messages = [str(w.message) for w in record if "no formula" in str(w.message)]
    assert len(messages) == 1
    assert "opcount_safety.mystery x2" in messages[0]
    strict = OpCounter(strict=True)
    with pytest.raises(UnsupportedOpError, match=r"opcount_safety\.mystery"), strict:
        torch.ops.opcount_safety.mystery(x)


def test_reports_before_any_run_explain_themselves() -> None:
    counter = OpCounter()
    with pytest.raises(OpCountError, match="nothing counted yet"):
        counter.to_dataframe()
    assert "nothing counted yet" in str(counter)
    with pytest.raises(OpCountError, match="needs the model"):
        count(lambda: None).num_params  # noqa: B018
    with pytest.raises(OpCountError, match=r"must be a torch\.nn\.Module"):
        OpCounter("resnet50")  # type: ignore[arg-type]
