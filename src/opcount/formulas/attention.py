"""Attention: every scaled-dot-product backend forward and backward, and the fused MHA kernels.

For queries ``[b, h, s_q, d]``, keys ``[b, h_kv, s_k, d]`` and values ``[b, h_kv, s_k, d_v]``
(grouped-query attention shares a key/value head between ``h / h_kv`` query heads):

- forward: ``q @ k^T`` (``b*h*s_q*s_k*d`` MACs) and ``p @ v`` (``b*h*s_q*s_k*d_v`` MACs); FLOPs add
  the scale, a float mask and the softmax per score (see :mod:`.costs`).
- backward of the fused kernels (flash, efficient, cuDNN, CPU flash) recomputes the scores, then
  ``dv = p^T @ do``, ``dp = do @ v^T``, ``dq = ds @ k``, ``dk = ds^T @ q``: five products. This
  is what those kernels run; the math backend stores the probabilities instead and runs four.
  The recomputed ``q @ k^T`` is hardware work but not model math: the formulas return it as
  ``recompute_macs`` (a :class:`~.registry.RecomputedCost`), the rows' column of that name.

Causal masking is counted at the full ``s_q x s_k``, as the attention definition computes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .costs import cost
from .registry import Cost, RecomputedCost, register
from .shapes import arg


def attention_forward_cost(
    batch: int, heads: int, s_q: int, s_k: int, d: int, d_v: int, float_mask: bool
) -> Cost:
    """FLOPs and MACs of one fused attention forward."""
    scores = batch * heads * s_q * s_k
    # q: [b,h,s_q,d] @ k^T: [b,h,d,s_k] -> s: [b,h,s_q,s_k]; p: [b,h,s_q,s_k] @ v: [b,h,s_k,d_v]
    macs = scores * d + scores * d_v
    per_score = (
        cost("attention_scale") + cost("softmax") + (cost("attention_mask") if float_mask else 0)
    )
    return 2 * macs + per_score * scores, macs


def attention_backward_cost(
    batch: int,
    heads: int,
    s_q: int,
    s_k: int,
    d: int,
    d_v: int,
    grad_q: bool = True,
    grad_k: bool = True,
    grad_v: bool = True,
) -> RecomputedCost:
    """FLOPs and MACs of one fused attention backward, the recomputed scores' MACs apart."""
    scores = batch * heads * s_q * s_k
    recompute = scores * d  # recompute s = q @ k^T
    macs = recompute
    if grad_v:
        macs += scores * d_v  # dv = p^T @ do
    if grad_q or grad_k:
        macs += scores * d_v  # dp = do @ v^T
    if grad_q:
        macs += scores * d  # dq = ds @ k
    if grad_k:
        macs += scores * d  # dk = ds^T @ q
    per_score = cost("attention_scale") + cost("softmax")  # recomputed probabilities
    if grad_q or grad_k:
        per_score += cost("softmax_backward") + cost("attention_scale")
    # delta = rowsum(do * o): one multiply and one add per element of the output
    delta = 2 * batch * heads * s_q * d_v if (grad_q or grad_k) else 0
    return RecomputedCost(2 * macs + per_score * scores + delta, macs, recompute)


def _bhsd(q: Any, k: Any, v: Any) -> tuple[int, int, int, int, int, int]:
    """(batch, heads, s_q, s_k, d, d_v) of ``[..., h, s, d]`` tensors; leading dims are batch."""
    batch = 1
    for size in q.shape[:-3]:
        batch *= int(size)
    return (
        batch,
        int(q.shape[-3]),
        int(q.shape[-2]),
        int(k.shape[-2]),
        int(q.shape[-1]),
        int(v.shape[-1]),
    )


def _bshd(q: Any, k: Any, v: Any) -> tuple[int, int, int, int, int, int]:
    """The same for ``[b, s, h, d]`` tensors (the flash/efficient kernels' own layout)."""
    return (
        int(q.shape[0]),
        int(q.shape[2]),
        int(q.shape[1]),
        int(k.shape[1]),
        int(q.shape[3]),
        int(v.shape[3]),
    )


def _is_float_mask(mask: Any) -> bool:
    return mask is not None and mask.is_floating_point()


@register(
    "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_flash_attention_for_cpu",
    category="attention",
)
def sdpa_flash(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (query, key, value, dropout_p, is_causal, ..., attn_mask= (cpu only), scale=)
    return attention_forward_cost(
        *_bhsd(args[0], args[1], args[2]), float_mask=_is_float_mask(kwargs.get("attn_mask"))
    )


@register(
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_cudnn_attention",
    "_scaled_dot_product_fused_attention_overrideable",
    "_cudnn_attention_forward",
    category="attention",
)
def sdpa_with_bias(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (query, key, value, attn_bias, ...)
    bias = arg(args, kwargs, 3, "attn_bias")
    return attention_forward_cost(*_bhsd(args[0], args[1], args[2]), float_mask=bias is not None)


@register(
    "_scaled_dot_product_flash_attention_backward",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_cudnn_attention_backward",
    "_cudnn_attention_backward",
    category="attention",
)
def sdpa_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, query, key, value, out, logsumexp, ...): all three gradients are computed
    return attention_backward_cost(*_bhsd(args[1], args[2], args[3]))


@register("_scaled_dot_product_efficient_attention_backward", category="attention")
def sdpa_efficient_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, query, key, value, attn_bias, out, logsumexp, philox_seed, philox_offset,
    #  dropout_p, grad_input_mask, ...): grad_input_mask picks dq, dk, dv (and d_bias)
    mask = arg(args, kwargs, 10, "grad_input_mask", (True, True, True, False))
    return attention_backward_cost(
        *_bhsd(args[1], args[2], args[3]), bool(mask[0]), bool(mask[1]), bool(mask[2])
    )


@register("_scaled_dot_product_fused_attention_overrideable_backward", category="attention")
def sdpa_overrideable_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, query, key, value, attn_bias, grad_input_mask, ...)
    mask = arg(args, kwargs, 5, "grad_input_mask", (True, True, True, False))
    return attention_backward_cost(
        *_bhsd(args[1], args[2], args[3]), bool(mask[0]), bool(mask[1]), bool(mask[2])
    )


def _varlen_pairs(cum_q: Any, cum_k: Any) -> list[tuple[int, int]] | None:
    """Per-sequence ``(s_q, s_k)`` of a packed variable-length batch, or None if not packed."""
    if cum_q is None or cum_k is None:
        return None
    lengths_q = (cum_q[1:] - cum_q[:-1]).tolist()
    lengths_k = (cum_k[1:] - cum_k[:-1]).tolist()
    return list(zip(lengths_q, lengths_k))


def _packed_cost(
    q: Any,
    k: Any,
    v: Any,
    pairs: list[tuple[int, int]] | None,
    backward: bool,
    float_mask: bool = False,
) -> Cost:
    """Cost of ``[b, s, h, d]`` attention, or of a packed batch ``[tokens, h, d]`` sequence by
    sequence when ``pairs`` holds each sequence's ``(s_q, s_k)``."""
    if pairs is None:
        if backward:
            return attention_backward_cost(*_bshd(q, k, v))
        return attention_forward_cost(*_bshd(q, k, v), float_mask=float_mask)
    heads, d, d_v = int(q.shape[-2]), int(q.shape[-1]), int(v.shape[-1])
    flops = macs = recompute = 0
    for s_q, s_k in pairs:
        if backward:
            backward_part = attention_backward_cost(1, heads, s_q, s_k, d, d_v)
            recompute += backward_part.recompute_macs
            f, m = backward_part
        else:
            f, m = attention_forward_cost(1, heads, s_q, s_k, d, d_v, float_mask)
        flops, macs = flops + f, macs + m
    return RecomputedCost(flops, macs, recompute) if backward else (flops, macs)


def _pairs(q: Any, cum_q: Any, cum_k: Any) -> list[tuple[int, int]] | None:
    return _varlen_pairs(cum_q, cum_k) if q.dim() == 3 else None


@register("_flash_attention_forward", category="attention", reads_values=True)
def flash_attention_forward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (query, key, value, cum_seq_q, cum_seq_k, max_q, max_k, dropout_p, is_causal, ...)
    q, k, v = args[0], args[1], args[2]
    pairs = _pairs(q, arg(args, kwargs, 3, "cum_seq_q"), arg(args, kwargs, 4, "cum_seq_k"))
    return _packed_cost(q, k, v, pairs, backward=False)


@register("_flash_attention_backward", category="attention", reads_values=True)
def flash_attention_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, query, key, value, out, logsumexp, cum_seq_q, cum_seq_k, ...)
    q, k, v = args[1], args[2], args[3]
    pairs = _pairs(q, arg(args, kwargs, 6, "cum_seq_q"), arg(args, kwargs, 7, "cum_seq_k"))
    return _packed_cost(q, k, v, pairs, backward=True)


@register("_efficient_attention_forward", category="attention", reads_values=True)
def efficient_attention_forward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (query, key, value, bias, cu_seqlens_q, cu_seqlens_k, ...): [b, s, h, d]; packed
    # sequences come as b == 1 with cumulative offsets
    q, k, v = args[0], args[1], args[2]
    pairs = _varlen_pairs(
        arg(args, kwargs, 4, "cu_seqlens_q"), arg(args, kwargs, 5, "cu_seqlens_k")
    )
    float_mask = arg(args, kwargs, 3, "bias") is not None
    return _packed_cost(q, k, v, pairs, backward=False, float_mask=float_mask)


@register("_efficient_attention_backward", category="attention", reads_values=True)
def efficient_attention_backward(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (grad_out, query, key, value, bias, out, cu_seqlens_q, cu_seqlens_k, ...)
    q, k, v = args[1], args[2], args[3]
    pairs = _varlen_pairs(
        arg(args, kwargs, 6, "cu_seqlens_q"), arg(args, kwargs, 7, "cu_seqlens_k")
    )
    return _packed_cost(q, k, v, pairs, backward=True)


def mha_cost(
    batch: int, s_q: int, s_k: int, embed: int, heads: int, biases: bool, float_mask: bool
) -> Cost:
    """A whole multi-head attention: q/k/v projections, attention, output projection.

    ``[b, s_q, e] @ [e, e]`` for q, ``[b, s_k, e] @ [e, e]`` for k and v (one packed
    ``[e, 3e]`` product when self-attending costs the same), attention with ``d = e / heads``,
    then ``[b, s_q, e] @ [e, e]`` for the output.
    """
    proj_macs = batch * s_q * embed * embed * 2 + batch * s_k * embed * embed * 2
    head_dim = embed // heads
    attn_flops, attn_macs = attention_forward_cost(
        batch, heads, s_q, s_k, head_dim, head_dim, float_mask
    )
    bias_flops = (
        (2 * batch * s_q * embed + 2 * batch * s_k * embed) * cost("bias_add") if biases else 0
    )
    macs = proj_macs + attn_macs
    return 2 * proj_macs + attn_flops + bias_flops, macs


def _tokens_and_lengths(x: Any) -> list[int]:
    """Sequence lengths of a ``[b, s, e]`` tensor, or of each sequence of a nested tensor."""
    if x.is_nested:
        return [int(size[0]) for size in x._nested_tensor_size().tolist()]
    return [int(x.shape[1])] * int(x.shape[0])


@register("_native_multi_head_attention", category="attention", reads_values=True)
def native_multi_head_attention(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight, proj_bias,
    #  mask, need_weights, average_attn_weights, mask_type); query: [b, s_q, e]
    q, k = args[0], args[1]
    embed, heads = int(args[3]), int(args[4])
    biases = arg(args, kwargs, 6, "qkv_bias") is not None
    mask = arg(args, kwargs, 9, "mask")
    flops = macs = 0
    for s_q, s_k in zip(_tokens_and_lengths(q), _tokens_and_lengths(k)):
        f, m = mha_cost(1, s_q, s_k, embed, heads, biases, _is_float_mask(mask))
        flops, macs = flops + f, macs + m
    return flops, macs


@register("_transformer_encoder_layer_fwd", category="attention", reads_values=True)
def transformer_encoder_layer(args: Sequence[Any], kwargs: Mapping[str, Any], out: Any) -> Cost:
    # (src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu,
    #  norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1,
    #  ffn_bias_1, ffn_weight_2, ffn_bias_2, mask, mask_type)
    # = self-attention, residual add, layer norm, linear e->f, activation, linear f->e,
    #   residual add, layer norm (in either order for norm_first).
    src = args[0]
    embed, heads = int(args[1]), int(args[2])
    use_gelu = bool(args[7])
    ffn = int(args[14].shape[0])
    mask = arg(args, kwargs, 18, "mask")
    flops = macs = 0
    for s in _tokens_and_lengths(src):
        f, m = mha_cost(1, s, s, embed, heads, True, _is_float_mask(mask))
        ffn_macs = 2 * s * embed * ffn
        activation = (cost("gelu") if use_gelu else cost("relu")) * s * ffn
        norms = 2 * (cost("norm") + cost("affine")) * s * embed
        residuals = 2 * cost("residual_add") * s * embed
        biases = cost("bias_add") * (s * ffn + s * embed)
        flops += f + 2 * ffn_macs + activation + norms + residuals + biases
        macs += m + ffn_macs
    return flops, macs
