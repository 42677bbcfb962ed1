"""Module attribution, forward and backward, on fixture models that carry their expected
per-module MACs in closed form: nested, reused, shared between two parents, functional ops in a
module, a module returning its input, an input without grad, and a module never called."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import count
from opcount import OpCounter

N, D = 3, 8  # tokens, width


class Block(nn.Module):
    """Nested: two linears with functional ops (relu, residual add) between them."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(D, 2 * D)
        self.fc2 = nn.Linear(2 * D, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.relu(self.fc1(x))) + x


class Wrapper(nn.Module):
    def __init__(self, shared: nn.Linear) -> None:
        super().__init__()
        self.lin = shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


class Passthrough(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Fixture(nn.Module):
    """left.lin and right.lin are one nn.Linear shared by two parents; block runs twice; the
    root itself runs a functional matmul with its own parameter; `unused` never runs."""

    def __init__(self) -> None:
        super().__init__()
        shared = nn.Linear(D, D)
        self.left = Wrapper(shared)
        self.right = Wrapper(shared)
        self.block = Block()
        self.passthrough = Passthrough()
        self.unused = nn.Linear(D, D)
        self.w = nn.Parameter(torch.randn(D, D))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.right(self.left(x))
        h = self.block(self.block(h))
        return self.passthrough(torch.matmul(h, self.w))

    @staticmethod
    def expected_forward_macs() -> dict[str, int]:
        return {
            "": N * D * D,  # h @ w, a functional op in the root
            "left.lin": N * D * D,
            "right.lin": N * D * D,
            "block.fc1": 2 * N * D * 2 * D,  # two calls
            "block.fc2": 2 * N * 2 * D * D,
        }

    @staticmethod
    def expected_backward_macs() -> dict[str, int]:
        # x needs no grad: left.lin computes only its weight's grad (1x its forward MACs);
        # every later product needs both grads (2x).
        return {
            "": 2 * N * D * D,
            "left.lin": N * D * D,
            "right.lin": 2 * N * D * D,
            "block.fc1": 2 * 2 * N * D * 2 * D,
            "block.fc2": 2 * 2 * N * 2 * D * D,
        }


def macs_by(frame: pd.DataFrame, phase: str) -> dict[str, int]:
    rows = frame[(frame["phase"] == phase) & (frame["macs"] > 0)]
    return {str(k): int(v) for k, v in rows.groupby("module")["macs"].sum().items()}


@pytest.fixture
def run() -> OpCounter:
    model = Fixture()
    x = torch.randn(N, D)  # no grad
    return count(lambda: model(x).sum().backward())


def test_forward_macs_per_module(run: OpCounter) -> None:
    assert macs_by(run.to_dataframe(), "forward") == Fixture.expected_forward_macs()


def test_backward_macs_per_module(run: OpCounter) -> None:
    assert macs_by(run.to_dataframe(), "backward") == Fixture.expected_backward_macs()


def test_reused_module_calls_are_numbered_in_both_passes(run: OpCounter) -> None:
    rows = run.to_dataframe()
    fc1 = rows[(rows["module"] == "block.fc1") & (rows["macs"] > 0)]
    per_call = fc1.groupby(["phase", "call"])["macs"].sum().to_dict()
    assert per_call == {
        ("forward", 0): N * D * 2 * D,
        ("forward", 1): N * D * 2 * D,
        ("backward", 0): 2 * N * D * 2 * D,
        ("backward", 1): 2 * N * D * 2 * D,
    }


def test_backward_rows_point_at_their_forward_op(run: OpCounter) -> None:
    rows = run.to_dataframe().set_index("seq")
    backward = rows[(rows["phase"] == "backward") & (rows["fwd_seq"] >= 0)]
    assert len(backward) > 0
    for seq, row in backward.iterrows():
        forward = rows.loc[row["fwd_seq"]]
        assert forward["phase"] == "forward"
        assert forward["module"] == row["module"], seq
        assert forward["call"] == row["call"], seq


def test_functional_ops_stay_in_the_module_that_ran_them(run: OpCounter) -> None:
    rows = run.to_dataframe()
    relu = rows[(rows["op"] == "aten.relu") & (rows["phase"] == "forward")]
    assert set(relu["module"]) == {"block"}
    assert set(relu["call"]) == {0, 1}


def test_module_tables(run: OpCounter) -> None:
    table = run.by_module().set_index("module")
    assert table["self_flops"].sum() == run.total_flops
    assert table["self_macs"].sum() == run.total_macs
    assert table.loc["block", "calls"] == 2
    assert table.loc["passthrough", "calls"] == 1
    assert table.loc["passthrough", "flops"] == 0
    assert "unused" not in table.index
    for name in table.index:
        children = [
            c for c in table.index if c.startswith(f"{name}.") and "." not in c[len(name) + 1 :]
        ]
        if name == "":
            children = [c for c in table.index if c and "." not in c and not c.startswith("<")]
        for column in ("flops", "macs", "forward_macs", "backward_macs"):
            assert table.loc[name, column] >= sum(table.loc[c, column] for c in children)
            assert table.loc[name, column] == table.loc[name, f"self_{column}"] + sum(
                table.loc[c, column] for c in children
            )
    root = table.loc[""]
    assert root["forward_macs"] == sum(Fixture.expected_forward_macs().values())
    assert root["backward_macs"] == sum(Fixture.expected_backward_macs().values())


def test_depth_and_phase_filters(run: OpCounter) -> None:
    shallow = run.by_module(depth=1)
    assert set(shallow["module"]) <= {"", "left", "right", "block", "passthrough", "<outside>"}
    backward = run.by_module(phase="backward").set_index("module")
    assert backward.loc["", "macs"] == sum(Fixture.expected_backward_macs().values())
    with pytest.raises(ValueError, match="unknown phase 'sideways'"):
        run.by_module(phase="sideways")


def test_ops_outside_every_module() -> None:
    layer = nn.Linear(D, D)
    x = torch.randn(N, D)
    counter = count(lambda: (layer(x) * 2).sum())
    rows = counter.to_dataframe()
    assert set(rows.loc[rows["op"] == "aten.mul", "module"]) == {"<outside>"}


def test_frozen_weight_halves_linear_backward() -> None:
    layer = nn.Linear(D, 4 * D)
    layer.weight.requires_grad_(False)
    x = torch.randn(N, D, requires_grad=True)
    counter = count(lambda: layer(x).sum().backward())
    rows = counter.to_dataframe()
    forward = rows.loc[rows["phase"] == "forward", "macs"].sum()
    backward = rows.loc[rows["phase"] == "backward", "macs"].sum()
    assert backward == forward == N * D * 4 * D  # only grad_input


def test_linear_backward_is_twice_forward_with_both_grads() -> None:
    layer = nn.Linear(D, 4 * D)
    x = torch.randn(N, D, requires_grad=True)
    counter = count(lambda: layer(x).sum().backward())
    by_phase = counter.to_dataframe().groupby("phase")["macs"].sum()
    assert by_phase["backward"] == 2 * by_phase["forward"] == 2 * N * D * 4 * D


def test_two_roots_without_a_model_argument() -> None:
    encoder, decoder = nn.Linear(D, D), nn.Linear(D, D)
    x = torch.randn(N, D)
    counter = count(lambda: decoder(encoder(x)))
    assert set(counter.to_dataframe()["module"]) == {"", "<Linear>"}


def test_model_argument_names_a_submodule_called_directly() -> None:
    model = Fixture()
    x = torch.randn(N, D)
    counter = count(lambda: model.block(x), model=model)
    assert {"block.fc1", "block.fc2"} <= set(counter.to_dataframe()["module"])


def test_reports_asked_mid_run_and_a_child_swapped_between_calls() -> None:
    # module calls are named when a report first needs them: a report taken inside the run
    # must name the calls so far, later calls continue their numbering, and a child replaced
    # between two calls keeps the name it was called under
    model = nn.Sequential(nn.Linear(D, D), nn.ReLU())
    first = model[0]
    x = torch.randn(N, D)
    with OpCounter(model=model) as counter:
        model(x)
        middle = counter.by_module().set_index("module")
        model[0] = nn.Linear(D, D)
        model(x)
    assert middle.loc["0", "calls"] == 1
    assert middle.loc["0", "macs"] == N * D * D
    rows = counter.to_dataframe()
    mm = rows[rows["macs"] > 0]
    assert list(zip(mm["module"], mm["call"], strict=True)) == [("0", 0), ("0", 1)]
    table = counter.by_module().set_index("module")
    assert table.loc["0", "calls"] == 2
    assert table.loc["0", "macs"] == 2 * N * D * D
    assert table.loc["1", "calls"] == 2
    assert first is not model[0]


class InPlaceAndFunctional(nn.Module):
    """An in-place activation, a custom autograd.Function and a child used only through its
    weight: every backward op must still find its module."""

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(x)  # type: ignore[attr-defined]
            return x * x

        @staticmethod
        def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
            (x,) = ctx.saved_tensors  # type: ignore[attr-defined]
            return 2 * x * grad

    def __init__(self) -> None:
        super().__init__()
        self.inner = nn.Sequential(nn.Linear(D, D), nn.Hardswish(inplace=True))
        self.proj = nn.Linear(D, D)  # never called as a module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.Square.apply(self.inner(x))
        return F.linear(h, self.proj.weight, self.proj.bias)


def test_in_place_ops_custom_functions_and_borrowed_weights_are_attributed() -> None:
    model = InPlaceAndFunctional()
    x = torch.randn(N, D, requires_grad=True)
    counter = count(lambda: model(x).sum().backward())
    rows = counter.to_dataframe()
    backward = rows[rows["phase"] == "backward"]
    assert "<unattributed>" not in set(backward["module"])
    assert set(backward.loc[backward["op"] == "aten.hardswish_backward", "module"]) == {"inner.1"}
    # the custom Function's backward multiplies run in the module that applied it
    assert "" in set(backward.loc[backward["op"] == "aten.mul", "module"])
    # proj's weight gradient is a product of the root's functional linear
    assert backward.loc[backward["module"] == "", "macs"].sum() == 2 * N * D * D
