"""Reused rows (opcount.engine.row_memo): a call equal to an earlier one takes the earlier
call's row, so every test here compares a counter that reuses rows with one that cannot
(``no_reuse``) or with a closed form, on calls built to differ only in what the key must
tell apart."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

import opcount.engine.mode
from helpers import count
from opcount import OpCounter
from opcount.reports.frames import COLUMNS


@contextmanager
def no_reuse() -> Iterator[None]:
    """Counters made inside keep no rows for reuse: every call is measured."""
    limit = opcount.engine.mode.MEMO_LIMIT
    opcount.engine.mode.MEMO_LIMIT = 0
    try:
        yield
    finally:
        opcount.engine.mode.MEMO_LIMIT = limit


def rows_both_ways(fn: Callable[[], Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of ``fn`` with reuse, and measured call by call."""
    torch.manual_seed(0)
    reused = count(fn).to_dataframe()
    with no_reuse():
        torch.manual_seed(0)
        measured = count(fn).to_dataframe()
    return reused, measured


def test_reused_rows_equal_measured_rows_on_real_models() -> None:
    # two training steps of fresh models: blocks of equal shapes, and the second step, reuse
    # rows; the second step also accumulates into the gradients the first one made
    def steps() -> None:
        resnet = torchvision.models.resnet18(weights=None)
        images = torch.randn(2, 3, 64, 64)
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        encoder = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
        tokens = torch.randn(2, 10, 32)
        for _ in range(2):
            resnet(images).sum().backward()
            encoder(tokens).sum().backward()

    reused, measured = rows_both_ways(steps)
    assert len(reused) > 1000
    pd.testing.assert_frame_equal(reused, measured)


def test_views_strides_and_broadcasts_are_told_apart() -> None:
    # equal shapes and dtypes, different layouts: contiguous, transposed, expanded (stride 0);
    # a sum's output is a scalar whatever the layout, so only the input's strides differ
    a = torch.randn(64, 64)
    column = torch.randn(64, 1)

    def calls() -> None:
        a.sum()
        a.t().sum()
        column.expand(64, 64).sum()

    reused, measured = rows_both_ways(calls)
    pd.testing.assert_frame_equal(reused, measured)
    sums = reused[reused["op"] == "aten.sum"]
    element = 4
    assert list(sums["bytes_read"]) == [64 * 64 * element, 64 * 64 * element, 64 * element]


def test_free_ops_are_keyed_by_their_inputs() -> None:
    # a view moves nothing, so its row is its input shapes, dtype and device: views of equal
    # inputs share a row whatever their arguments; other inputs get their own
    x = torch.randn(16)
    y = torch.randn(16, dtype=torch.float64)
    z = torch.empty(16, device="meta")

    def calls() -> None:
        x.view(4, 4)
        x.view(2, 8)
        y.view(4, 4)  # another dtype
        z.view(4, 4)  # another device

    reused, measured = rows_both_ways(calls)
    pd.testing.assert_frame_equal(reused, measured)
    views = reused[reused["op"] == "aten.view"]
    assert list(views["shapes"]) == ["[[16]]"] * 4
    assert list(views["dtype"]) == ["float32", "float32", "float64", "float32"]
    assert list(views["device"]) == ["cpu", "cpu", "cpu", "meta"]
    assert set(views["bytes_read"]) == {0}


def test_scalar_and_list_arguments_are_part_of_the_key() -> None:
    x = torch.randn(16)
    z = torch.randn(16, dtype=torch.complex64)
    image = torch.randn(1, 1, 6, 6)

    def calls() -> None:
        torch.add(x, x)
        torch.add(x, x, alpha=2)  # one multiply more per element
        torch.add(z, z, alpha=2)
        torch.add(z, z, alpha=2 + 0j)  # equal to 2 in Python, but a complex multiply
        torch.round(x)
        torch.round(x, decimals=2)  # a multiply and a divide more
        # a Scalar alpha given positionally: equal in Python, a real or a complex multiply
        torch.ops.aten.add.Scalar(z, 1.0, 2)
        torch.ops.aten.add.Scalar(z, 1.0, 2 + 0j)
        # two windows, one output shape (2 x 2): 9 and 16 elements summed per output
        nn.functional.avg_pool2d(image, 3, stride=3, padding=1)
        nn.functional.avg_pool2d(image, 4, stride=3, padding=1)

    reused, measured = rows_both_ways(calls)
    pd.testing.assert_frame_equal(reused, measured)
    add = reused[reused["op"] == "aten.add"]
    tensor_add = list(add.loc[add["overload"] == "Tensor", "flops"])
    assert tensor_add[:2] == [16, 2 * 16]
    assert tensor_add[2] != tensor_add[3]  # a real or a complex alpha on complex values
    scalar_add = list(add.loc[add["overload"] == "Scalar", "flops"])
    assert scalar_add[0] != scalar_add[1]
    rounds = reused.loc[reused["op"] == "aten.round", "flops"]
    assert list(rounds) == [16, 3 * 16]
    pools = reused.loc[reused["op"] == "aten.avg_pool2d", "flops"]
    assert len(set(pools)) == 2


def test_devices_are_part_of_the_key() -> None:
    def calls() -> None:
        torch.randn(8).exp()
        torch.empty(8, device="meta").exp()

    reused, measured = rows_both_ways(calls)
    pd.testing.assert_frame_equal(reused, measured)
    exp = reused[reused["op"] == "aten.exp"]
    assert [str(d) for d in exp["device"]] == ["cpu", "meta"]


def test_outputs_whose_size_follows_values_are_measured() -> None:
    # nonzero's output (and so its bytes) depends on the values, not the input shape
    sparse = torch.tensor([0.0, 1.0, 0.0, 0.0, 2.0, 0.0])
    dense = torch.tensor([1.0, 1.0, 1.0, 1.0, 2.0, 3.0])

    def calls() -> None:
        torch.nonzero(sparse)
        torch.nonzero(dense)

    reused, measured = rows_both_ways(calls)
    pd.testing.assert_frame_equal(reused, measured)
    written = reused.loc[reused["op"] == "aten.nonzero", "bytes_written"]
    assert list(written) == [2 * 8, 6 * 8]  # int64 indices of the nonzero elements


def test_formulas_reading_values_are_never_reused() -> None:
    # a Chebyshev polynomial's degree given as a tensor: n - 1 recurrence steps per element
    x = torch.randn(8)
    degrees = [torch.full((8,), 3), torch.full((8,), 5)]
    with OpCounter() as counter:
        for n in degrees:
            torch.special.chebyshev_polynomial_t(x, n)
    rows = counter.to_dataframe()
    steps = rows.loc[rows["op"] == "aten.special_chebyshev_polynomial_t", "flops"]
    per_step = 4  # two multiplies, an add and a subtract
    assert list(steps) == [8 * 2 * per_step, 8 * 4 * per_step]


def test_a_formula_error_is_recorded_at_every_call() -> None:
    def failing(args: Any, kwargs: Any, out: Any) -> tuple[int, int]:
        raise ValueError("no cost for this")

    x = torch.randn(4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(formulas={torch.ops.aten.exp: failing}) as counter:
            torch.exp(x)
            torch.exp(x)
    rows = counter.to_dataframe()
    assert list(rows["status"]) == ["unsupported", "unsupported"]
    table = counter.unsupported_ops()
    assert list(table["calls"]) == [2]
    assert list(table["reason"]) == ["ValueError: no cost for this"]


def test_nested_counters_each_count_with_their_own_costs() -> None:
    # an inner counter with its own costs sees the same calls as the outer one; each counts
    # them with its own table, and reuse changes nothing
    x = torch.randn(32)
    inner: list[OpCounter] = []

    def calls() -> None:
        torch.exp(x)
        with OpCounter(costs={"transcendental": 7}) as counter:
            torch.exp(x)
        inner.append(counter)
        torch.exp(x)

    reused, measured = rows_both_ways(calls)
    pd.testing.assert_frame_equal(reused, measured)
    assert list(reused["flops"]) == [32, 32, 32]
    assert [c.total_flops for c in inner] == [7 * 32, 7 * 32]


def test_symbolic_shapes_are_measured() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    with FakeTensorMode(shape_env=ShapeEnv()) as fake:
        x = fake.from_tensor(torch.randn(6, 4), symbolic_context=None)
        from torch.fx.experimental.symbolic_shapes import (
            DimDynamic,
            StatelessSymbolicContext,
        )

        context = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DYNAMIC, DimDynamic.STATIC])
        y = fake.from_tensor(torch.randn(6, 4), symbolic_context=context)
        with OpCounter() as counter:
            x.exp()
            y.exp()
            y.exp()
    rows = counter.to_dataframe()
    assert list(rows["flops"]) == [24, 24, 24]


@pytest.mark.parametrize("limit", [0, 1])
def test_the_memo_stops_growing_at_its_limit(limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(opcount.engine.mode, "MEMO_LIMIT", limit)
    with OpCounter() as counter:
        for n in range(1, 5):
            torch.randn(n).exp()
    assert len(counter._mode._memo) == limit  # type: ignore[union-attr]
    rows = counter.to_dataframe()
    assert list(rows.loc[rows["op"] == "aten.exp", "flops"]) == [1, 2, 3, 4]


# -- every OpInfo: no formula may read values unless it says so ----------------------------------

_COMPARED = [c for c in COLUMNS if c not in ("seq", "module", "module_type", "call", "fwd_seq")]
"""What a row of the copy must repeat: everything but its position in the run."""


def _varied(value: Any) -> Any:
    """A copy of a tensor with the same shape, dtype, strides and ``requires_grad`` but other
    values (fresh floats, other mask bits, integers drawn between the smallest and largest
    there, so indices stay in range)."""
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided:
        return value
    copy = value.detach().clone()  # dense tensors keep their strides
    if copy.numel():
        if copy.dtype == torch.bool:
            fresh = torch.rand(copy.shape) < 0.5
        elif copy.is_floating_point() or copy.is_complex():
            fresh = torch.randn(copy.shape, dtype=copy.dtype)
        else:
            low, high = int(copy.min()), int(copy.max())
            fresh = torch.randint(low, high + 1, copy.shape, dtype=copy.dtype)
        copy.copy_(fresh)
    if value.requires_grad:
        copy.requires_grad_(True)
    return copy


def reuse_problems(op: Any, sample: Any) -> list[str]:
    """Run ``sample`` and then a copy with other values in one counter (the copy's calls reuse
    the first run's rows), and the copy alone: the copy's rows must be equal both ways."""
    from torch.utils._pytree import tree_map

    import opinfo_sweep

    torch.manual_seed(1)
    varied = SimpleNamespace(
        input=tree_map(_varied, sample.input),
        args=tree_map(_varied, sample.args),
        kwargs=tree_map(_varied, sample.kwargs),
        output_process_fn_grad=sample.output_process_fn_grad,
    )
    with OpCounter(warn=False) as both:
        first = opinfo_sweep.run_once(op, sample, backward=op.supports_autograd)
        start = len(both.to_dataframe())
        second = opinfo_sweep.run_once(op, varied, backward=op.supports_autograd)
    with OpCounter(warn=False) as alone:
        third = opinfo_sweep.run_once(op, varied, backward=op.supports_autograd)
    if first.error is not None or third.error is not None:
        return []  # the other values are outside the op's domain (or the sample raises)
    if second.error is not None:
        return [f"raised only after reusing rows: {second.error!r}"]
    reused = both.to_dataframe().iloc[start:][_COMPARED].reset_index(drop=True)
    measured = alone.to_dataframe()[_COMPARED]
    if reused.equals(measured):
        return []
    return [f"rows differ:\n{reused.compare(measured) if reused.shape == measured.shape else ''}"]


def _op_db() -> dict[str, Any]:
    pytest.importorskip("expecttest")  # op_db's import needs both
    pytest.importorskip("hypothesis")
    import opinfo_sweep

    return {opinfo_sweep.opinfo_name(op): op for op in opinfo_sweep.op_db()}


def test_fast_subset_rows_follow_values_where_they_must() -> None:
    import opinfo_sweep

    ops = _op_db()
    problems = []
    for name in opinfo_sweep.FAST_OPS:
        _, sample = next(opinfo_sweep.samples(ops[name], 1))
        problems += [f"{name}: {p}" for p in reuse_problems(ops[name], sample)]
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_every_opinfo_rows_follow_values_where_they_must() -> None:
    import opinfo_sweep

    problems = []
    for name, op in _op_db().items():
        for index, sample in opinfo_sweep.samples(op, 3):
            problems += [f"{name}[{index}]: {p}" for p in reuse_problems(op, sample)]
    assert not problems, "\n".join(problems)
