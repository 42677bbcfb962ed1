"""StepMeter on CPU: a step is counted only when its signature is new (the first step, a new
sequence length, eval mode), each counted step's figures are those of an OpCounter run of the
same step, and MFU, HFU and throughput follow from the step's time and the device's peak."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

import opcount
from opcount import OpCounter, OpCountError, StepMeter
from opcount.training.meter import STEP_COLUMNS

VOCAB = 50


class TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(VOCAB, 16)
        self.attn = nn.Linear(16, 48)
        self.head = nn.Linear(16, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        b, s = ids.shape
        q, k, v = self.attn(self.tok(ids)).view(b, s, 3, 2, 8).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.head(y.transpose(1, 2).reshape(b, s, 16))


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, ids: torch.Tensor) -> None:
    loss = F.cross_entropy(model(ids).view(-1, VOCAB), ids.view(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def batches(lengths: list[int]) -> list[torch.Tensor]:
    torch.manual_seed(1)
    return [torch.randint(VOCAB, (2, s)) for s in lengths]


def setup() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = TinyLM()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-3)


def test_counted_only_for_a_new_signature() -> None:
    model, optimizer = setup()
    meter = StepMeter(model, peak_flops=1e12)
    lengths = [8, 8, 8, 12, 12, 8]
    expected = {}
    for step, ids in enumerate(batches(lengths), start=1):
        if step in (1, 4):  # what an OpCounter makes of this very step, on a twin
            twin_model, twin_optimizer = copy.deepcopy((model, optimizer))
            with OpCounter(twin_model) as counter:
                train_step(twin_model, twin_optimizer, ids)
            expected[ids.shape[1]] = (
                counter.total_flops,
                counter.model_flops,
                counter.hardware_flops,
            )
        with meter.step(tokens=ids.numel()):
            train_step(model, optimizer, ids)
        assert model._forward_pre_hooks == {}  # the hook lives only inside a step
    steps = meter.steps
    assert list(steps.columns) == list(STEP_COLUMNS)
    assert steps["counted"].tolist() == [True, False, False, True, False, False]
    for record, s in zip(steps.itertuples(), lengths):
        assert (record.flops, record.model_flops, record.hardware_flops) == expected[s]
        assert record.mfu == record.model_flops / (record.time_s * 1e12)
        assert record.hfu == record.hardware_flops / (record.time_s * 1e12)
        assert record.tokens_per_s == 2 * s / record.time_s
    # the CPU default flash backward recomputes the scores: hardware above model FLOPs
    assert steps["hardware_flops"].iloc[0] > steps["model_flops"].iloc[0]
    uncounted = steps[~steps["counted"]]
    assert meter.mfu == uncounted["mfu"].median()
    assert meter.hfu == uncounted["hfu"].median()
    assert meter.tokens_per_s == uncounted["tokens_per_s"].median()
    assert meter.last.step == 6
    assert meter.last_counter is not None


def test_grad_mode_and_training_are_part_of_the_signature() -> None:
    model, optimizer = setup()
    meter = StepMeter(model)
    ids = batches([8])[0]
    for _ in range(2):
        with meter.step():
            train_step(model, optimizer, ids)
    model.eval()
    for _ in range(2):
        with meter.step(samples=2), torch.no_grad():
            model(ids)
    assert meter.steps["counted"].tolist() == [True, False, True, False]
    assert meter.last.samples_per_s == 2 / meter.last.time_s
    # without a peak there is no MFU, and the flops are still there
    assert meter.mfu is None
    assert meter.last.mfu is None
    assert meter.last.model_flops > 0
    # an eval forward has no backward: model FLOPs are 2 x its MACs
    assert meter.last.model_flops == 2 * meter.last_counter.total_macs  # type: ignore[union-attr]


def test_recount_every() -> None:
    model, optimizer = setup()
    meter = StepMeter(model, recount_every=3)
    ids = batches([8])[0]
    for _ in range(7):
        with meter.step():
            train_step(model, optimizer, ids)
    assert meter.steps["counted"].tolist() == [True, False, False, True, False, False, True]


def test_peak_from_the_device_table() -> None:
    assert opcount.peak_flops("h100-sxm", torch.bfloat16) == 989.4e12  # dense, not 1,979
    model, optimizer = setup()
    model = model.to(torch.bfloat16)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    meter = StepMeter(model, peak="h100-sxm")
    with meter.step():
        train_step(model, optimizer, batches([8])[0])
    record = meter.last
    assert record.matmul_dtype == "bfloat16"
    assert record.peak_flops == 989.4e12
    assert record.mfu == record.model_flops / (record.time_s * 989.4e12)
    # peak_flops overrides the table
    assert StepMeter(model, peak="h100-sxm", peak_flops=5e12).peak_flops == 5e12


def test_bad_input_is_refused() -> None:
    model, _ = setup()
    with pytest.raises(OpCountError, match="tpu-v9"):
        StepMeter(model, peak="tpu-v9")
    with pytest.raises(OpCountError, match="-1"):
        StepMeter(model, peak_flops=-1)
    with pytest.raises(OpCountError, match="0"):
        StepMeter(model, recount_every=0)
    with pytest.raises(OpCountError, match=r"nn\.Module"):
        StepMeter("model")  # type: ignore[arg-type]
    meter = StepMeter(model)
    with pytest.raises(OpCountError, match="no step"):
        meter.last  # noqa: B018
    with pytest.raises(OpCountError, match="tokens"):
        meter.step(tokens=-3)
    with meter.step(), pytest.raises(OpCountError, match="nest"), meter.step():
        pass


def test_a_failing_step_leaves_nothing_behind() -> None:
    model, optimizer = setup()
    meter = StepMeter(model)
    ids = batches([8])[0]

    def failing_step() -> None:
        with meter.step():
            model(ids)  # the counter starts here: a new signature
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        failing_step()
    assert model._forward_pre_hooks == {}
    assert _get_current_dispatch_mode_stack() == []  # the counter's mode is gone
    assert len(nn.modules.module._global_forward_pre_hooks) == 0  # and its module hooks
    assert len(meter.steps) == 0  # a step that raised is not recorded
    with meter.step():  # and the next step of that signature is counted
        train_step(model, optimizer, ids)
    assert meter.steps["counted"].tolist() == [True]
