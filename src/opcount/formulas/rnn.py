"""Recurrent networks: the fused LSTM/GRU/RNN layer kernels (oneDNN, cuDNN, MIOpen), the fused
CUDA cells, and their backward ops.

Per layer and direction, with ``rows`` = time steps x batch (or the packed rows,
``sum(batch_sizes)``), gate count ``G`` (LSTM 4, GRU 3, RNN 1), hidden size ``H``, input size
``I`` and projection size ``P``:

- MACs = ``rows * (G*H*I + G*H*H_r + H*P)``: the gate products ``x @ W_ih^T`` and
  ``h @ W_hh^T`` (``H_r = P`` with a projection, else ``H``) and the projection ``h @ W_hr^T``,
  i.e. ``rows`` times the weight matrices' element count. Without a projection, an LSTM layer is
  ``seq * batch * 4*H*(I + H)`` MACs.
- FLOPs = ``2 * MACs`` + ``rows * H * cell``, where ``cell`` sums the cost table's entries:
  LSTM ``4 * rnn_gate_add (+ 8 with biases) + 3 * rnn_sigmoid + rnn_tanh + lstm_state``;
  GRU ``3 * rnn_gate_add (+ 6) + 2 * rnn_sigmoid + rnn_tanh + gru_state``;
  RNN ``rnn_gate_add (+ 2) + rnn_tanh | rnn_relu``. Two bias vectors (b_ih, b_hh) are two adds.

Backward, always run through the data (cuDNN and oneDNN compute the input and hidden gradients
whenever they run): data MACs ``rows * numel(weights)``, weight MACs the same again when weights
need gradients, ``rows * H * (cell_backward + rnn_grad_accumulate)`` FLOPs, and one
``reduce_add`` per gate element and bias vector for the bias gradients.

On CPU, ``nn.LSTM`` runs ``mkldnn_rnn_layer`` per layer and direction; ``nn.GRU``, ``nn.RNN``,
LSTM with ``proj_size`` and the cells decompose into matmuls and pointwise ops, which their own
formulas count. On CUDA all of them run ``_cudnn_rnn`` (one call for the whole stack).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from .costs import cost
from .registry import Cost, register
from .shapes import arg, prod

# cuDNN / MIOpen / oneDNN mode numbers
RNN_RELU, RNN_TANH, LSTM, GRU = 0, 1, 2, 3

GATES = {RNN_RELU: 1, RNN_TANH: 1, LSTM: 4, GRU: 3}


def cell_flops(mode: int, has_bias: bool) -> int:
    """FLOPs of one cell update per hidden unit (gate products excluded)."""
    gates = GATES[mode]
    adds = gates * (3 if has_bias else 1) * cost("rnn_gate_add")  # x-part + h-part (+ 2 biases)
    if mode == LSTM:
        return adds + 3 * cost("rnn_sigmoid") + cost("rnn_tanh") + cost("lstm_state")
    if mode == GRU:
        return adds + 2 * cost("rnn_sigmoid") + cost("rnn_tanh") + cost("gru_state")
    return adds + (cost("rnn_relu") if mode == RNN_RELU else cost("rnn_tanh"))


def cell_backward_flops(mode: int) -> int:
    """FLOPs of one cell's backward per hidden unit (gate products excluded)."""
    if mode == LSTM:
        return cost("lstm_cell_backward")
    if mode == GRU:
        return cost("gru_cell_backward")
    return cost("rnn_relu_backward") if mode == RNN_RELU else cost("rnn_tanh_backward")


def rnn_rows(x: Any, batch_sizes: Any) -> int:
    """Time steps x batch of an RNN input ``[seq, batch, I]`` (either order), or the rows of a
    packed input ``[sum(batch_sizes), I]``."""
    if batch_sizes is not None and len(batch_sizes) > 0:
        return sum(int(b) for b in batch_sizes)
    return prod(x.shape[:-1])


def weight_groups(weights: Sequence[Any], stride: int) -> list[list[Any]]:
    """The flat weight list split per layer and direction (``stride`` tensors each)."""
    return [list(weights[i : i + stride]) for i in range(0, len(weights), stride)]


def _matrices_numel(group: Sequence[Any]) -> int:
    """Elements of a layer-direction's weight matrices (W_ih, W_hh and W_hr, not biases)."""
    return sum(int(w.numel()) for w in group if isinstance(w, Tensor) and w.dim() == 2)


def _has_bias(group: Sequence[Any]) -> bool:
    return any(isinstance(w, Tensor) and w.dim() == 1 for w in group)


def rnn_forward_cost(
    rows: int, groups: Sequence[Sequence[Any]], mode: int, hidden: int, dropout_elements: int = 0
) -> Cost:
    """FLOPs and MACs of a multi-layer RNN forward over ``rows`` rows."""
    macs = flops = 0
    for group in groups:
        macs += rows * _matrices_numel(group)
        flops += rows * hidden * cell_flops(mode, _has_bias(group))
    return 2 * macs + flops + dropout_elements * cost("rnn_dropout"), macs


def rnn_backward_cost(
    rows: int, groups: Sequence[Sequence[Any]], mode: int, hidden: int, weight_grads: bool
) -> Cost:
    """FLOPs and MACs of a multi-layer RNN backward over ``rows`` rows."""
    macs = flops = 0
    per_unit = cell_backward_flops(mode) + cost("rnn_grad_accumulate")
    for group in groups:
        data_macs = rows * _matrices_numel(group)  # dgates @ W_ih, dgates @ W_hh (, dh @ W_hr)
        macs += data_macs
        flops += rows * hidden * per_unit
        if weight_grads:
            macs += data_macs  # dgates^T @ x, dgates^T @ h (, dh^T @ h_raw)
            biases = sum(1 for w in group if isinstance(w, Tensor) and w.dim() == 1)
            flops += rows * GATES[mode] * hidden * biases * cost("reduce_add")
    return 2 * macs + flops, macs


def _dropout_elements(out: Any, rows: int, num_layers: int, dropout: float, train: bool) -> int:
    """Elements that cuDNN's inter-layer dropout multiplies (all layers' outputs but the
    last)."""
    if not train or dropout <= 0 or num_layers < 2:
        return 0
    output = out[0] if isinstance(out, (tuple, list)) else out
    features = int(output.shape[-1])  # num_directions * (P or H)
    return rows * features * (num_layers - 1)


def _fused_rnn(
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    out: Any,
    *,
    mode: int,
    batch_sizes: int,
    num_layers: int,
    dropout: int,
) -> Cost:
    """A whole-stack cuDNN / MIOpen forward, given where its schema puts ``mode`` (``hidden_size``
    follows it), ``batch_sizes``, ``num_layers`` and ``dropout`` (``train`` follows it)."""
    x, weights, stride = args[0], args[1], int(args[2])
    rows = rnn_rows(x, arg(args, kwargs, batch_sizes, "batch_sizes"))
    dropped = _dropout_elements(
        out,
        rows,
        int(arg(args, kwargs, num_layers, "num_layers")),
        float(arg(args, kwargs, dropout, "dropout", 0.0)),
        bool(arg(args, kwargs, dropout + 1, "train", True)),
    )
    return rnn_forward_cost(
        rows,
        weight_groups(weights, stride),
        int(arg(args, kwargs, mode, "mode")),
        int(arg(args, kwargs, mode + 1, "hidden_size")),
        dropped,
    )


def _fused_rnn_backward(
    args: Sequence[Any], kwargs: Mapping[str, Any], *, batch_sizes: int, output_mask: int
) -> Cost:
    """A whole-stack cuDNN / MIOpen backward (``mode``, ``hidden_size`` at 10, 11 in both),
    given where its schema puts ``batch_sizes`` and ``output_mask``."""
    x, weights, stride = args[0], args[1], int(args[2])
    mode, hidden = int(arg(args, kwargs, 10, "mode")), int(arg(args, kwargs, 11, "hidden_size"))
    rows = rnn_rows(x, arg(args, kwargs, batch_sizes, "batch_sizes"))
    mask = arg(args, kwargs, output_mask, "output_mask", (True, True, True, True))
    return rnn_backward_cost(rows, weight_groups(weights, stride), mode, hidden, bool(mask[3]))


@register("_cudnn_rnn", category="matmul")
def cudnn_rnn(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight[], weight_stride0, weight_buf, hx, cx, mode, hidden_size, proj_size,
    #  num_layers, batch_first, dropout, train, bidirectional, batch_sizes, dropout_state)
    return _fused_rnn(args, kwargs, out, mode=6, batch_sizes=14, num_layers=9, dropout=11)


@register("_cudnn_rnn_backward", category="matmul")
def cudnn_rnn_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight[], weight_stride0, weight_buf, hx, cx, output, grad_output, grad_hy,
    #  grad_cy, mode, hidden_size, proj_size, num_layers, batch_first, dropout, train,
    #  bidirectional, batch_sizes, dropout_state, reserve, output_mask[4])
    return _fused_rnn_backward(args, kwargs, batch_sizes=18, output_mask=21)


@register("miopen_rnn", category="matmul")
def miopen_rnn(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight[], weight_stride0, hx, cx, mode, hidden_size, num_layers, batch_first,
    #  dropout, train, bidirectional, batch_sizes, dropout_state)
    return _fused_rnn(args, kwargs, out, mode=5, batch_sizes=12, num_layers=7, dropout=9)


@register("miopen_rnn_backward", category="matmul")
def miopen_rnn_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, weight[], weight_stride0, weight_buf, hx, cx, output, grad_output, grad_hy,
    #  grad_cy, mode, hidden_size, num_layers, batch_first, dropout, train, bidirectional,
    #  batch_sizes, dropout_state, reserve, output_mask[4])
    return _fused_rnn_backward(args, kwargs, batch_sizes=17, output_mask=20)


@register("_cudnn_rnn_flatten_weight", category="copy")
def cudnn_rnn_flatten_weight(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # copies the weights into one buffer
    return 0, 0


@register("mkldnn_rnn_layer", category="matmul")
def mkldnn_rnn_layer(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # one layer and direction: (input, W_ih, W_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes,
    #  mode, hidden_size, num_layers, has_biases, bidirectional, batch_first, train)
    x = args[0]
    group = list(args[1:3]) + (list(args[3:5]) if arg(args, kwargs, 12, "has_biases") else [])
    mode, hidden = int(arg(args, kwargs, 9, "mode")), int(arg(args, kwargs, 10, "hidden_size"))
    rows = rnn_rows(x, arg(args, kwargs, 8, "batch_sizes"))
    return rnn_forward_cost(rows, [group], mode, hidden)


@register("mkldnn_rnn_layer_backward", category="matmul")
def mkldnn_rnn_layer_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, W_ih, W_hh, b_ih, b_hh, hx, cx_tmp, output, hy, cy, grad_output, grad_hy,
    #  grad_cy, reverse, mode, hidden_size, num_layers, has_biases, train, bidirectional,
    #  batch_sizes, batch_first, workspace): oneDNN computes every gradient
    x = args[0]
    group = list(args[1:3]) + (list(args[3:5]) if arg(args, kwargs, 17, "has_biases") else [])
    mode, hidden = int(arg(args, kwargs, 14, "mode")), int(arg(args, kwargs, 15, "hidden_size"))
    rows = rnn_rows(x, arg(args, kwargs, 20, "batch_sizes"))
    return rnn_backward_cost(rows, [group], mode, hidden, True)


@register("_thnn_fused_lstm_cell", category="activation")
def thnn_fused_lstm_cell(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input_gates [B, 4H], hidden_gates [B, 4H], cx, input_bias, hidden_bias): the gate
    # products were computed before (as mm ops); this is the pointwise cell
    gates = int(args[0].numel())
    biases = sum(
        arg(args, kwargs, i, name) is not None
        for i, name in ((3, "input_bias"), (4, "hidden_bias"))
    )
    units = gates // 4
    flops = gates * (1 + biases) * cost("rnn_gate_add")
    flops += units * (3 * cost("rnn_sigmoid") + cost("rnn_tanh") + cost("lstm_state"))
    return flops, 0


@register("_thnn_fused_gru_cell", category="activation")
def thnn_fused_gru_cell(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input_gates [B, 3H], hidden_gates [B, 3H], hx, input_bias, hidden_bias)
    gates = int(args[0].numel())
    biases = sum(
        arg(args, kwargs, i, name) is not None
        for i, name in ((3, "input_bias"), (4, "hidden_bias"))
    )
    units = gates // 3
    flops = gates * (1 + biases) * cost("rnn_gate_add")
    flops += units * (2 * cost("rnn_sigmoid") + cost("rnn_tanh") + cost("gru_state"))
    return flops, 0


@register("_thnn_fused_lstm_cell_backward_impl", category="activation")
def thnn_fused_lstm_cell_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_hy, grad_cy, cx, cy, workspace [B, 4H], has_bias) -> (grad_gates, grad_cx,
    # grad_bias): the cell's backward per unit, and the bias gradient summed over the batch
    cx = args[2]
    units = int(cx.numel())
    flops = units * cost("lstm_cell_backward")
    if arg(args, kwargs, 5, "has_bias", False):
        flops += 4 * units * cost("reduce_add")
    return flops, 0


@register("_thnn_fused_gru_cell_backward", category="activation")
def thnn_fused_gru_cell_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_hy [B, H], workspace, has_bias) -> (grad_input_gates, grad_hidden_gates, grad_hx,
    # grad_input_bias, grad_hidden_bias): both bias gradients are sums over the batch
    units = int(args[0].numel())
    flops = units * cost("gru_cell_backward")
    if arg(args, kwargs, 2, "has_bias", False):
        flops += 2 * 3 * units * cost("reduce_add")
    return flops, 0


@register("_pack_padded_sequence", category="copy")
def pack_padded_sequence(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (input, lengths, batch_first): copy the valid time steps into a packed batch
    return 0, 0
