"""The optimizer phase: every op inside ``Optimizer.step`` (any torch optimizer, for-loop,
foreach or fused), ``zero_grad``, an LR scheduler's ``step`` and GradScaler's
``unscale_``/``step``/``update`` is phase and category ``optimizer`` in module ``<optimizer>``,
and the forward and backward rows are those of a run without the optimizer."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
import torch
from torch import nn
from torch.optim import optimizer as optimizer_module

from opcount import OpCounter

KEY = ["op", "overload", "category", "status", "flops", "macs", "module", "module_type", "phase"]

OPTIMIZERS: list[tuple[str, Callable[..., torch.optim.Optimizer], dict[str, Any]]] = []
for _name, _cls, _options in (
    ("Adam", torch.optim.Adam, {}),
    ("AdamW", torch.optim.AdamW, {"weight_decay": 0.1}),
    ("SGD", torch.optim.SGD, {"momentum": 0.9}),
    ("Adagrad", torch.optim.Adagrad, {}),
    ("RMSprop", torch.optim.RMSprop, {"momentum": 0.5}),
):
    for _flavour in ("for-loop", "foreach"):
        OPTIMIZERS.append(
            (f"{_name}-{_flavour}", _cls, {**_options, "foreach": _flavour != "for-loop"})
        )
for _name, _cls in (("Adam", torch.optim.Adam), ("AdamW", torch.optim.AdamW)):
    OPTIMIZERS.append((f"{_name}-fused", _cls, {"fused": True}))  # CPU fused kernels


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3))


def no_markers(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows without the free profiler markers torch's step wrapper emits outside the hooks."""
    return rows[~rows["op"].str.startswith("profiler.")].reset_index(drop=True)


def keyed(rows: pd.DataFrame) -> list[tuple[Any, ...]]:
    return list(rows[KEY].itertuples(index=False, name=None))


@pytest.mark.parametrize(("name", "cls", "options"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_every_op_of_a_step_is_optimizer(
    name: str, cls: Callable[..., torch.optim.Optimizer], options: dict[str, Any]
) -> None:
    x = torch.randn(4, 6)
    model = make_model()
    optimizer = cls(model.parameters(), lr=1e-2, **options)
    twin_model = copy.deepcopy(model)
    twin_optimizer = cls(twin_model.parameters(), lr=1e-2, **options)
    for _ in range(2):  # the first step creates the state, the second is a plain one
        with OpCounter(model) as whole:
            model(x).sum().backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)
        # the twin: the same step, each part under a counter of its own
        with OpCounter(twin_model) as passes:
            twin_model(x).sum().backward()
        with OpCounter(twin_model) as step:
            twin_optimizer.step()
        with OpCounter(twin_model) as zero:
            twin_optimizer.zero_grad(set_to_none=False)
        rows = whole.to_dataframe()
        assert whole.complete

        # forward and backward rows are those of the run without the optimizer
        model_rows = rows[rows["phase"].isin(["forward", "backward"])]
        assert keyed(no_markers(model_rows)) == keyed(no_markers(passes.to_dataframe()))
        # every op of step and zero_grad is the optimizer's, nothing else is
        optimizer_rows = rows[rows["phase"] == "optimizer"]
        alone = pd.concat([step.to_dataframe(), zero.to_dataframe()])
        assert keyed(no_markers(optimizer_rows)) == keyed(no_markers(alone))
        for part in (step, zero):
            inside = no_markers(part.to_dataframe())
            assert len(inside) > 0
            assert set(inside["phase"]) == {"optimizer"}
            assert set(inside["category"]) == {"optimizer"}
            assert set(inside["module"]) == {"<optimizer>"}
            assert set(inside["module_type"]) == {cls.__name__}
        # no optimizer op outside the phase: after the last backward op only the step runs
        last_backward = int(rows.loc[rows["phase"] == "backward", "seq"].max())
        after = no_markers(rows[rows["seq"] > last_backward])
        assert set(after["phase"]) == {"optimizer"}
        assert int(optimizer_rows["flops"].sum()) > 0
        assert whole.model_flops == passes.model_flops  # the optimizer adds no model FLOPs


def test_scheduler_and_grad_scaler_are_optimizer_calls() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9)
    scaler = torch.amp.GradScaler("cpu")
    with OpCounter(model) as counter:
        scaler.scale(model(torch.randn(4, 6)).sum()).backward()
        scaler.unscale_(optimizer)
        scaler.step(optimizer)  # runs optimizer.step inside: one frame
        scaler.update()
        scheduler.step()
        optimizer.zero_grad()
    rows = no_markers(counter.to_dataframe())
    inside = rows[rows["phase"] == "optimizer"]
    ops = set(inside["op"])
    assert {"aten._amp_foreach_non_finite_check_and_unscale_", "aten._amp_update_scale_"} <= ops
    assert "aten.add_" in ops  # SGD's update
    # unscale_ and step work for the SGD; update knows only the scaler
    by_type = inside.groupby("module_type")["op"].apply(set)
    assert by_type["GradScaler"] == {"aten._amp_update_scale_"}
    assert set(inside["module_type"]) == {"SGD", "GradScaler"}
    # nothing of them outside the phase
    outside = set(rows.loc[rows["phase"] != "optimizer", "op"])
    assert not outside & {"aten._amp_foreach_non_finite_check_and_unscale_", "aten.add_"}
    assert not outside & {"aten._amp_update_scale_", "aten.reciprocal"}
    assert counter.by_phase()["phase"].tolist() == ["forward", "backward", "optimizer"]
    record = counter.by_module().set_index("module").loc["<optimizer>"]
    assert record["optimizer_flops"] == int(inside["flops"].sum()) > 0
    assert record["forward_flops"] == record["backward_flops"] == 0


def _global_state() -> tuple[Any, ...]:
    from torch.optim import lr_scheduler

    return (
        len(optimizer_module._global_optimizer_pre_hooks),
        len(optimizer_module._global_optimizer_post_hooks),
        torch.optim.Optimizer.__dict__["zero_grad"],
        lr_scheduler.LRScheduler.__dict__["step"],
        lr_scheduler.ReduceLROnPlateau.__dict__["step"],
        torch.amp.GradScaler.__dict__["unscale_"],
        torch.amp.GradScaler.__dict__["step"],
        torch.amp.GradScaler.__dict__["update"],
    )


def test_hooks_and_methods_are_restored_also_on_error() -> None:
    before = _global_state()
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters())
    with OpCounter(model):
        model(torch.randn(2, 6)).sum().backward()
        optimizer.step()
        assert _global_state() != before  # wrapped while counting
    assert _global_state() == before

    def failing_run() -> None:
        with OpCounter(model):
            optimizer.zero_grad()
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        failing_run()
    assert _global_state() == before

    # and a step that raises inside a counter leaves the next counter's phases right
    def failing_closure() -> None:
        raise RuntimeError("closure failed")

    with OpCounter(model), pytest.raises(RuntimeError):
        optimizer.step(failing_closure)
    with OpCounter(model) as counter:
        model(torch.randn(2, 6)).sum().backward()
    assert set(counter.to_dataframe()["phase"]) == {"forward", "backward"}


def test_a_user_subclass_is_caught() -> None:
    class Halving(torch.optim.SGD):
        def step(self, closure: Any = None) -> Any:  # a subclass's own step, calling its base's
            for group in self.param_groups:
                group["lr"] = group["lr"] / 2
            return super().step(closure)

    model = make_model()
    optimizer = Halving(model.parameters(), lr=0.1)
    with OpCounter(model) as counter:
        model(torch.randn(2, 6)).sum().backward()
        optimizer.step()
    rows = no_markers(counter.to_dataframe())
    inside = rows[rows["phase"] == "optimizer"]
    assert set(inside["module_type"]) == {"Halving"}
    assert set(inside["call"]) == {0}  # the base's step nested in the subclass's: one call
    assert "aten.add_" in set(inside["op"])


def test_a_step_raising_inside_a_wrapped_call_leaves_no_frame() -> None:
    # GradScaler.step (wrapped, with a finally) runs optimizer.step (hooked: no post-hook when
    # it raises); once the error is caught, the next ops are forward again
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", enabled=False)  # disabled: step(opt, closure) passes on

    def failing_closure() -> None:
        raise RuntimeError("closure failed")

    with OpCounter(model) as counter:
        with pytest.raises(RuntimeError, match="closure failed"):
            scaler.step(optimizer, failing_closure)
        model(torch.randn(2, 6)).sum()
    rows = no_markers(counter.to_dataframe())
    assert set(rows["phase"]) == {"forward"}
    assert set(rows["module"]) == {"<outside>", "0", "1", "2", "3"}  # the model's own layers
