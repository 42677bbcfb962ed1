"""RNN formulas against closed forms: nn.LSTM/GRU/RNN on CPU in every grad mode (the gate
products as MACs), their backward, and the cuDNN/MIOpen/fused-cell formulas by schema."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import count, frames_in_every_mode, only_row
from opcount.formulas import rnn as rnn_formulas
from opcount.formulas.costs import cost
from opcount.formulas.rnn import GRU, LSTM, RNN_RELU, RNN_TANH, cell_flops

SEQ, BATCH, IN, HID = 5, 3, 4, 6
GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}
# ops that are not this family's: views still missing from the free list
NOT_OURS = {"aten.unsafe_split", "aten.transpose_"}


def closed_form_macs(kind: type, num_layers: int, bidirectional: bool) -> int:
    """seq * batch * G*H*(I_l + H) per layer and direction."""
    dirs = 2 if bidirectional else 1
    macs = 0
    for layer in range(num_layers):
        in_size = IN if layer == 0 else dirs * HID
        macs += dirs * SEQ * BATCH * GATES[kind] * HID * (in_size + HID)
    return macs


CONFIGS = [
    pytest.param(
        kind, layers, bidir, batch_first, id=f"{kind.__name__}-{layers}-{bidir}-{batch_first}"
    )
    for kind in (nn.LSTM, nn.GRU, nn.RNN)
    for layers, bidir, batch_first in ((1, False, False), (2, True, False), (2, False, True))
]


@pytest.mark.parametrize(("kind", "layers", "bidirectional", "batch_first"), CONFIGS)
def test_forward_macs_closed_form_in_every_mode(
    kind: type, layers: int, bidirectional: bool, batch_first: bool
) -> None:
    model = kind(IN, HID, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.randn(BATCH, SEQ, IN) if batch_first else torch.randn(SEQ, BATCH, IN)
    for frame in frames_in_every_mode(lambda: model(x)):
        assert frame.macs.sum() == closed_form_macs(kind, layers, bidirectional)
        assert set(frame[frame.status == "unsupported"].op) <= NOT_OURS


@pytest.mark.parametrize(("kind", "layers", "bidirectional", "batch_first"), CONFIGS)
def test_forward_and_backward_have_no_unsupported_op(
    kind: type, layers: int, bidirectional: bool, batch_first: bool
) -> None:
    model = kind(IN, HID, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    shape = (BATCH, SEQ, IN) if batch_first else (SEQ, BATCH, IN)
    x = torch.randn(*shape, requires_grad=True)
    frame = count(lambda: model(x)[0].sum().backward()).to_dataframe()
    assert set(frame[frame.status == "unsupported"].op) <= NOT_OURS
    backward = frame[frame.phase == "backward"]
    # the data and weight gradients: twice the forward's products; oneDNN's LSTM layer also
    # computes the initial state's gradient, the decomposed GRU/RNN skip dgates @ W_hh at the
    # first step of every layer and direction (h0 needs no gradient)
    macs = 2 * closed_form_macs(kind, layers, bidirectional)
    if kind is not nn.LSTM:
        layer_dirs = layers * (2 if bidirectional else 1)
        macs -= layer_dirs * BATCH * GATES[kind] * HID * HID
    assert backward.macs.sum() == macs


def test_cpu_lstm_layer_flops() -> None:
    model = nn.LSTM(IN, HID)
    x = torch.randn(SEQ, BATCH, IN)
    counter = count(lambda: model(x)[0].sum().backward())
    macs = SEQ * BATCH * 4 * HID * (IN + HID)
    row = only_row(counter, "aten.mkldnn_rnn_layer")
    # per hidden unit and step: 4 gate sums + 8 bias adds, 3 sigmoids, a tanh, the state update
    cell = (
        12 * cost("rnn_gate_add") + 3 * cost("rnn_sigmoid") + cost("rnn_tanh") + cost("lstm_state")
    )
    assert cell == cell_flops(LSTM, True)
    assert (row.macs, row.flops) == (macs, 2 * macs + SEQ * BATCH * HID * cell)
    row = only_row(counter, "aten.mkldnn_rnn_layer_backward")
    units = SEQ * BATCH * HID
    assert row.macs == 2 * macs  # data and weight gradients
    assert row.flops == (
        2 * row.macs
        + units * (cost("lstm_cell_backward") + cost("rnn_grad_accumulate"))
        + 2 * SEQ * BATCH * 4 * HID * cost("reduce_add")  # b_ih and b_hh gradients
    )


def test_lstm_without_bias() -> None:
    model = nn.LSTM(IN, HID, bias=False)
    row = only_row(count(lambda: model(torch.randn(SEQ, BATCH, IN))), "aten.mkldnn_rnn_layer")
    macs = SEQ * BATCH * 4 * HID * (IN + HID)
    assert row.flops == 2 * macs + SEQ * BATCH * HID * cell_flops(LSTM, False)


def test_lstm_with_projection_counts_the_projection() -> None:
    proj = 3
    model = nn.LSTM(IN, HID, proj_size=proj)
    frame = count(lambda: model(torch.randn(SEQ, BATCH, IN))).to_dataframe()
    # gates see the projected state: 4H * (I + P), then h = (o * tanh c) @ W_hr^T: H * P
    assert frame.macs.sum() == SEQ * BATCH * (4 * HID * (IN + proj) + HID * proj)


def test_cells_in_every_mode() -> None:
    x = torch.randn(BATCH, IN)
    for cell, gates in (
        (nn.LSTMCell(IN, HID), 4),
        (nn.GRUCell(IN, HID), 3),
        (nn.RNNCell(IN, HID), 1),
    ):
        for frame in frames_in_every_mode(lambda cell=cell: cell(x)):
            assert frame.macs.sum() == BATCH * gates * HID * (IN + HID)
            assert set(frame[frame.status == "unsupported"].op) <= NOT_OURS


def _lstm_weights(layers: int, dirs: int, proj: int = 0, bias: bool = True) -> list[torch.Tensor]:
    """cuDNN's flat weight list: per layer and direction W_ih, W_hh, [b_ih, b_hh], [W_hr]."""
    out_size = proj or HID
    weights = []
    for layer in range(layers):
        in_size = IN if layer == 0 else dirs * out_size
        for _ in range(dirs):
            weights += [
                torch.empty(4 * HID, in_size, device="meta"),
                torch.empty(4 * HID, out_size, device="meta"),
            ]
            if bias:
                weights += [
                    torch.empty(4 * HID, device="meta"),
                    torch.empty(4 * HID, device="meta"),
                ]
            if proj:
                weights.append(torch.empty(proj, HID, device="meta"))
    return weights


def test_cudnn_rnn_lstm_bidirectional_two_layers() -> None:
    x = torch.empty(SEQ, BATCH, IN, device="meta")
    weights = _lstm_weights(2, 2)
    out = torch.empty(SEQ, BATCH, 2 * HID, device="meta")
    args = (x, weights, 4, None, None, None, LSTM, HID, 0, 2, False, 0.0, True, True, [], None)
    flops, macs = rnn_formulas.cudnn_rnn(args, {}, (out,))
    assert macs == closed_form_macs(nn.LSTM, 2, True)  # as on CPU
    assert flops == 2 * macs + 4 * SEQ * BATCH * HID * cell_flops(LSTM, True)  # 4 layer-dirs
    # training with dropout 0.5 between the two layers: the first layer's output is masked
    args = (x, weights, 4, None, None, None, LSTM, HID, 0, 2, False, 0.5, True, True, [], None)
    dropped, _ = rnn_formulas.cudnn_rnn(args, {}, (out,))
    assert dropped == flops + SEQ * BATCH * 2 * HID * cost("rnn_dropout")


def test_cudnn_rnn_projection_packed_and_backward() -> None:
    proj, batch_sizes = 3, [3, 3, 2, 1]  # packed: 9 rows
    rows = sum(batch_sizes)
    x = torch.empty(rows, IN, device="meta")
    weights = _lstm_weights(1, 1, proj=proj)
    args = (
        x,
        weights,
        5,
        None,
        None,
        None,
        LSTM,
        HID,
        proj,
        1,
        False,
        0.0,
        False,
        False,
        batch_sizes,
        None,
    )
    flops, macs = rnn_formulas.cudnn_rnn(args, {}, None)
    assert macs == rows * (4 * HID * (IN + proj) + proj * HID)
    assert flops == 2 * macs + rows * HID * cell_flops(LSTM, True)
    # backward: (input, weight, stride, weight_buf, hx, cx, output, grad_output, grad_hy,
    #  grad_cy, mode, hidden, proj, layers, batch_first, dropout, train, bidir, batch_sizes,
    #  dropout_state, reserve, output_mask)
    back = (
        x,
        weights,
        5,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        LSTM,
        HID,
        proj,
        1,
        False,
        0.0,
        True,
        False,
        batch_sizes,
        None,
        None,
    )
    units = rows * HID
    cell_back = units * (cost("lstm_cell_backward") + cost("rnn_grad_accumulate"))
    flops, back_macs = rnn_formulas.cudnn_rnn_backward((*back, [True, True, True, True]), {}, None)
    assert back_macs == 2 * macs
    assert flops == 2 * back_macs + cell_back + 2 * rows * 4 * HID * cost("reduce_add")
    flops, back_macs = rnn_formulas.cudnn_rnn_backward((*back, [True, True, True, False]), {}, None)
    assert (flops, back_macs) == (2 * macs + cell_back, macs)  # data gradients only


@pytest.mark.parametrize(("mode", "gates"), [(GRU, 3), (RNN_TANH, 1), (RNN_RELU, 1)])
def test_cudnn_rnn_gru_and_plain_rnn(mode: int, gates: int) -> None:
    x = torch.empty(SEQ, BATCH, IN, device="meta")
    weights = [
        torch.empty(gates * HID, IN, device="meta"),
        torch.empty(gates * HID, HID, device="meta"),
    ]  # no biases
    args = (x, weights, 2, None, None, None, mode, HID, 0, 1, False, 0.0, False, False, [], None)
    flops, macs = rnn_formulas.cudnn_rnn(args, {}, None)
    assert macs == SEQ * BATCH * gates * HID * (IN + HID)
    assert flops == 2 * macs + SEQ * BATCH * HID * cell_flops(mode, False)
    miopen = (x, weights, 2, None, None, mode, HID, 1, False, 0.0, False, False, [], None)
    assert rnn_formulas.miopen_rnn(miopen, {}, None) == (flops, macs)


def test_cell_flops_closed_forms() -> None:
    gate_add, sig, tanh = cost("rnn_gate_add"), cost("rnn_sigmoid"), cost("rnn_tanh")
    assert cell_flops(GRU, True) == 9 * gate_add + 2 * sig + tanh + cost("gru_state")
    assert cell_flops(RNN_TANH, True) == 3 * gate_add + tanh
    assert cell_flops(RNN_RELU, False) == gate_add + cost("rnn_relu")


def test_fused_cuda_cells_by_schema() -> None:
    gates4 = torch.empty(BATCH, 4 * HID, device="meta")
    cx = torch.empty(BATCH, HID, device="meta")
    bias4 = torch.empty(4 * HID, device="meta")
    units = BATCH * HID
    flops, macs = rnn_formulas.thnn_fused_lstm_cell((gates4, gates4, cx, bias4, bias4), {}, None)
    assert (flops, macs) == (units * cell_flops(LSTM, True), 0)  # the matmuls ran before
    flops, _ = rnn_formulas.thnn_fused_lstm_cell((gates4, gates4, cx), {}, None)
    assert flops == units * cell_flops(LSTM, False)
    gates3, bias3 = torch.empty(BATCH, 3 * HID, device="meta"), torch.empty(3 * HID, device="meta")
    flops, _ = rnn_formulas.thnn_fused_gru_cell((gates3, gates3, cx, bias3, bias3), {}, None)
    assert flops == units * cell_flops(GRU, True)
    flops, _ = rnn_formulas.thnn_fused_lstm_cell_backward((cx, cx, cx, cx, gates4, True), {}, None)
    assert flops == units * cost("lstm_cell_backward") + 4 * units * cost("reduce_add")
    flops, _ = rnn_formulas.thnn_fused_gru_cell_backward((cx, gates3, True), {}, None)
    assert flops == units * cost("gru_cell_backward") + 2 * 3 * units * cost("reduce_add")
