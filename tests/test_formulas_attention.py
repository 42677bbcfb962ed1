"""Attention formulas: every SDPA backend forward and backward, and the fused MHA kernels,
against closed forms; MACs equal across backends and across grad modes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from helpers import count, only_row, op_rows
from opcount.formulas import attention as attn
from opcount.formulas.costs import cost

B, H, SQ, SK, D = 2, 4, 6, 10, 8


def qkv(requires_grad: bool = False, kv_heads: int = H) -> tuple[torch.Tensor, ...]:
    q = torch.randn(B, H, SQ, D, requires_grad=requires_grad)
    k = torch.randn(B, kv_heads, SK, D, requires_grad=requires_grad)
    v = torch.randn(B, kv_heads, SK, D, requires_grad=requires_grad)
    return q, k, v


def forward_flops(scores: int, macs: int, float_mask: bool = False) -> int:
    per_score = cost("attention_scale") + cost("softmax")
    if float_mask:
        per_score += cost("attention_mask")
    return 2 * macs + per_score * scores


def test_cpu_flash_forward() -> None:
    q, k, v = qkv()
    counter = count(lambda: F.scaled_dot_product_attention(q, k, v))
    row = only_row(counter, "aten._scaled_dot_product_flash_attention_for_cpu")
    scores = B * H * SQ * SK
    macs = scores * D + scores * D  # q @ k^T, then p @ v
    assert (row.macs, row.flops, row.category) == (macs, forward_flops(scores, macs), "attention")


def test_cpu_flash_backward_recomputes_scores() -> None:
    q, k, v = qkv(requires_grad=True)
    counter = count(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    row = only_row(counter, "aten._scaled_dot_product_flash_attention_for_cpu_backward")
    scores = B * H * SQ * SK
    # recompute q @ k^T, dv = p^T @ do, dp = do @ v^T, dq = ds @ k, dk = ds^T @ q
    assert row.macs == 5 * scores * D
    assert row.recompute_macs == scores * D  # the recomputed q @ k^T: hardware, not model, work
    assert counter.model_flops == 2 * (2 + 4) * scores * D  # forward 2 products, backward 4
    assert counter.hardware_flops == counter.model_flops + 2 * scores * D
    per_score = 2 * cost("attention_scale") + cost("softmax") + cost("softmax_backward")
    assert row.flops == 2 * row.macs + per_score * scores + 2 * B * H * SQ * D
    assert row.phase == "backward"


def test_math_backward_recomputes_nothing() -> None:
    q, k, v = qkv(requires_grad=True)
    with sdpa_kernel(SDPBackend.MATH):
        counter = count(lambda: F.scaled_dot_product_attention(q, k, v).sum().backward())
    rows = counter.to_dataframe()
    assert int(rows["recompute_macs"].sum()) == 0
    assert counter.model_flops == counter.hardware_flops == 2 * (2 + 4) * B * H * SQ * SK * D


def test_varlen_backward_recomputes_each_sequence() -> None:
    # a packed batch, sequence by sequence: q @ k^T recomputed for each (s_q, s_k) pair
    lengths = [(3, 5), (4, 2)]
    heads, d = 2, 8
    q = torch.randn(7, heads, d)
    k = torch.randn(7, heads, d)
    v = torch.randn(7, heads, d)
    cost_ = attn._packed_cost(q, k, v, lengths, backward=True)
    assert isinstance(cost_, attn.RecomputedCost)
    assert cost_.recompute_macs == sum(heads * s_q * s_k * d for s_q, s_k in lengths)
    assert cost_[1] == 5 * cost_.recompute_macs


def test_float_mask_costs_one_add_per_score() -> None:
    q, k, v = qkv()
    mask = torch.randn(SQ, SK)
    counter = count(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    row = only_row(counter, "aten._scaled_dot_product_flash_attention_for_cpu")
    scores = B * H * SQ * SK
    assert row.flops == forward_flops(scores, 2 * scores * D, float_mask=True)


def test_grouped_query_attention_counts_query_heads() -> None:
    q, k, v = qkv(kv_heads=2)
    counter = count(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))
    assert counter.total_macs == 2 * B * H * SQ * SK * D


def test_math_backend_gives_the_same_forward_macs() -> None:
    q, k, v = qkv()
    fused = count(lambda: F.scaled_dot_product_attention(q, k, v)).total_macs
    with sdpa_kernel(SDPBackend.MATH):
        math = count(lambda: F.scaled_dot_product_attention(q, k, v))
    assert math.total_macs == fused == 2 * B * H * SQ * SK * D
    assert len(op_rows(math, "aten.bmm")) == 2


def test_mha_fast_path_matches_grad_mode() -> None:
    embed, heads, seq = 32, 4, 5
    mha = torch.nn.MultiheadAttention(embed, heads, batch_first=True).eval()
    x = torch.randn(B, seq, embed)
    # in-projection [e, 3e], attention with d = e / h, out-projection [e, e]
    expected = B * seq * embed * 3 * embed + 2 * B * seq * seq * embed + B * seq * embed * embed
    seen = {}
    for mode in (torch.enable_grad, torch.no_grad, torch.inference_mode):
        with mode():
            counter = count(lambda: mha(x, x, x, need_weights=False))
        seen[mode.__name__] = counter.total_macs
    assert seen == dict.fromkeys(seen, expected)
    with torch.no_grad():
        counter = count(lambda: mha(x, x, x, need_weights=False))
    only_row(counter, "aten._native_multi_head_attention")


def test_transformer_encoder_layer_fast_path_matches_grad_mode() -> None:
    embed, heads, ffn, seq = 32, 4, 64, 5
    layer = torch.nn.TransformerEncoderLayer(embed, heads, ffn, batch_first=True).eval()
    x = torch.randn(B, seq, embed)
    attention = B * seq * embed * 4 * embed + 2 * B * seq * seq * embed
    expected = attention + 2 * B * seq * embed * ffn
    for mode in (torch.enable_grad, torch.no_grad, torch.inference_mode):
        with mode():
            assert count(lambda: layer(x)).total_macs == expected
    with torch.no_grad():
        only_row(count(lambda: layer(x)), "aten._transformer_encoder_layer_fwd")


def test_nested_fast_path_counts_only_real_tokens() -> None:
    # with a padding mask the encoder packs sequences into a nested tensor and skips padding
    embed, heads, ffn = 32, 4, 64
    layer = torch.nn.TransformerEncoderLayer(embed, heads, ffn, batch_first=True)
    encoder = torch.nn.TransformerEncoder(layer, 1, enable_nested_tensor=True).eval()
    x = torch.randn(2, 5, embed)
    mask = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    with torch.no_grad():
        counter = count(lambda: encoder(x, src_key_padding_mask=mask))

    def per_sequence(s: int) -> int:
        return s * embed * 4 * embed + 2 * s * s * embed + 2 * s * embed * ffn

    assert counter.total_macs == per_sequence(5) + per_sequence(3)


def meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


@pytest.mark.parametrize(
    ("formula", "args"),
    [
        (attn.sdpa_flash, (meta(B, H, SQ, D), meta(B, H, SK, D), meta(B, H, SK, D))),
        (attn.sdpa_with_bias, (meta(B, H, SQ, D), meta(B, H, SK, D), meta(B, H, SK, D), None)),
        (
            attn.flash_attention_forward,
            (meta(B, SQ, H, D), meta(B, SK, H, D), meta(B, SK, H, D), None, None),
        ),
        (
            attn.efficient_attention_forward,
            (meta(B, SQ, H, D), meta(B, SK, H, D), meta(B, SK, H, D), None, None, None),
        ),
    ],
)
def test_cuda_backend_forward_formulas_agree(formula: object, args: tuple[object, ...]) -> None:
    flops, macs = formula(args, {}, None)  # type: ignore[operator]
    scores = B * H * SQ * SK
    assert (flops, macs) == (forward_flops(scores, 2 * scores * D), 2 * scores * D)


def test_cuda_backend_backward_formulas_agree() -> None:
    scores = B * H * SQ * SK
    bhsd = (meta(B, H, SQ, D), meta(B, H, SQ, D), meta(B, H, SK, D), meta(B, H, SK, D))
    bshd = (meta(B, SQ, H, D), meta(B, SQ, H, D), meta(B, SK, H, D), meta(B, SK, H, D))
    assert attn.sdpa_backward(bhsd, {}, None)[1] == 5 * scores * D
    assert attn.flash_attention_backward((*bshd, None, None, None, None), {}, None)[1] == (
        5 * scores * D
    )
    # the efficient backend's grad_input_mask: only dv needed -> recompute + p^T @ do
    mask_args = (*bhsd, None, None, None, None, None, 0.0, (False, False, True, False))
    assert attn.sdpa_efficient_backward(mask_args, {}, None)[1] == 2 * scores * D


def test_packed_variable_length_flash_counts_each_sequence() -> None:
    lengths = [3, 5]
    total = sum(lengths)
    q, k, v = meta(total, H, D), meta(total, H, D), meta(total, H, D)
    cum = torch.tensor([0, 3, 8], dtype=torch.int32)
    _, macs = attn.flash_attention_forward((q, k, v, cum, cum), {}, None)
    assert macs == sum(2 * H * s * s * D for s in lengths)
