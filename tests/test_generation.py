"""Generation of a small GQA Llama: per call, prefill against decode steps, KV-cache bytes, each
exact against its closed form; the CLI's cached loop on meta against generate() on CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from opcount import OpCounter, OpCountError

transformers = pytest.importorskip("transformers")

from opcount.cli.hf import cache_bytes, count_generation  # noqa: E402
from opcount.cli.models import LoadedModel  # noqa: E402

LAYERS, HIDDEN, HEADS, KV_HEADS, MLP, VOCAB = 2, 128, 4, 2, 256, 1000
HEAD_DIM = HIDDEN // HEADS
PROMPT, NEW_TOKENS, BATCH = 10, 8, 1


def small_llama(device: str = "cpu") -> nn.Module:
    config = transformers.LlamaConfig(
        num_hidden_layers=LAYERS,
        hidden_size=HIDDEN,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        intermediate_size=MLP,
        vocab_size=VOCAB,
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = transformers.LlamaForCausalLM(config)
    return model.eval()


def step_macs(tokens: int, keys: int, logits: int) -> int:
    """MACs of one forward of ``tokens`` new positions per sequence attending to ``keys``.

    Per layer: q and o projections d x d, k and v d x (kv_heads x head_dim), gate, up and down
    d x mlp, each once per token; attention q @ k^T and p @ v over tokens x keys per head (the
    causal mask is applied, not skipped); then the LM head d x vocab on the ``logits`` positions
    the model computes logits for (generate() asks for the last one only).
    """
    kv = KV_HEADS * HEAD_DIM
    projections = tokens * (2 * HIDDEN * HIDDEN + 2 * HIDDEN * kv)
    mlp = tokens * 3 * HIDDEN * MLP
    attention = 2 * HEADS * tokens * keys * HEAD_DIM
    return BATCH * (LAYERS * (projections + mlp + attention) + logits * HIDDEN * VOCAB)


def kv_cache_bytes(keys: int, itemsize: int = 4) -> int:
    """2 (K and V) x layers x batch x keys x heads x head_dim x itemsize; the attention op here
    receives the KV heads: transformers' sdpa path hands GQA to the kernel (``enable_gqa``)
    instead of repeating K and V to all heads first."""
    return 2 * LAYERS * BATCH * keys * KV_HEADS * HEAD_DIM * itemsize


@pytest.fixture(scope="module")
def generated() -> OpCounter:
    model = small_llama()
    ids = torch.randint(1, VOCAB, (BATCH, PROMPT))
    with OpCounter(model) as counter:
        model.generate(ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)
    return counter


def test_each_generated_token_is_one_root_call(generated: OpCounter) -> None:
    calls = generated.by_call()
    assert calls["call"].tolist() == list(range(NEW_TOKENS))
    assert set(calls["phase"]) == {"forward"}


def test_prefill_and_decode_macs_equal_the_closed_form(generated: OpCounter) -> None:
    calls = generated.by_call()
    assert int(calls["macs"].iloc[0]) == step_macs(PROMPT, PROMPT, 1)
    for k in range(1, NEW_TOKENS):
        assert int(calls["macs"].iloc[k]) == step_macs(1, PROMPT + k, 1), f"decode step {k}"


def test_kv_cache_bytes_of_each_step_equal_the_closed_form(generated: OpCounter) -> None:
    steps = generated.generation_steps()
    assert steps["stage"].tolist() == ["prefill"] + ["decode"] * (NEW_TOKENS - 1)
    assert steps["tokens"].tolist() == [BATCH * PROMPT] + [BATCH] * (NEW_TOKENS - 1)
    assert steps["context"].tolist() == [PROMPT + k for k in range(NEW_TOKENS)]
    assert steps["kv_cache_bytes"].tolist() == [
        kv_cache_bytes(PROMPT + k) for k in range(NEW_TOKENS)
    ]


def test_by_call_sums_the_rows_of_the_root(generated: OpCounter) -> None:
    rows = generated.to_dataframe()
    inside = rows[rows["module"] != "<outside>"]
    calls = generated.by_call()
    for column in ("flops", "macs", "bytes_read", "bytes_written"):
        assert int(calls[column].sum()) == int(inside[column].sum())
    assert int(calls["ops"].sum()) == len(inside)
    layer = generated.by_call("model.layers.0")
    assert len(layer) == NEW_TOKENS
    assert int(layer["macs"].sum()) == int(
        rows.loc[rows["module"].str.startswith("model.layers.0."), "macs"].sum()
    )


def test_summary_splits_prefill_from_decode(generated: OpCounter) -> None:
    summary = generated.generation_summary().set_index("stage")
    decode_macs = [step_macs(1, PROMPT + k, 1) for k in range(1, NEW_TOKENS)]
    assert summary.at["prefill", "macs"] == step_macs(PROMPT, PROMPT, 1)
    assert summary.at["decode", "macs"] == sum(decode_macs)
    assert summary.at["decode", "steps"] == NEW_TOKENS - 1
    assert summary.at["decode first step", "macs"] == decode_macs[0]
    assert summary.at["decode last step", "macs"] == decode_macs[-1]
    assert summary.at["decode mean step", "macs"] == sum(decode_macs) / len(decode_macs)
    assert summary.at["decode per token", "macs"] == sum(decode_macs) / (BATCH * len(decode_macs))
    decode_kv = sum(kv_cache_bytes(PROMPT + k) for k in range(1, NEW_TOKENS))
    assert summary.at["decode", "kv_cache_bytes"] == decode_kv


def _loaded(device: str) -> LoadedModel:
    model = small_llama(device)
    ids = torch.zeros(BATCH, PROMPT, dtype=torch.int64, device=device)
    return LoadedModel("small llama", model, (ids,))


def test_the_cli_loop_on_cpu_counts_what_generate_counts(generated: OpCounter) -> None:
    counter, held = count_generation(_loaded("cpu"), NEW_TOKENS - 1)
    ours = counter.by_call().drop(columns="input_shapes")
    theirs = generated.by_call().drop(columns="input_shapes")
    assert ours.equals(theirs)
    assert held == [kv_cache_bytes(PROMPT + k) for k in range(NEW_TOKENS)]


def test_the_cli_loop_on_meta_gives_generates_macs_and_cache(generated: OpCounter) -> None:
    counter, held = count_generation(_loaded("meta"), NEW_TOKENS - 1)
    ours, theirs = counter.generation_steps(), generated.generation_steps()
    # on meta torch runs scaled-dot-product attention as matmuls (its math backend): the
    # products are the same, the fused kernel's softmax and bytes are not
    for column in ("step", "stage", "tokens", "context", "macs"):
        assert ours[column].tolist() == theirs[column].tolist(), column
    assert held == theirs["kv_cache_bytes"].tolist()


def test_cache_bytes_of_a_fresh_cache_is_zero() -> None:
    assert cache_bytes(transformers.DynamicCache()) == 0


def test_by_call_counts_backward_with_its_call() -> None:
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    with OpCounter(model) as c:
        model(torch.randn(2, 4)).sum().backward()
        model(torch.randn(5, 4))
    calls = c.by_call()
    assert calls["call"].tolist() == [0, 1]
    assert calls["input_shapes"].tolist() == [((2, 4),), ((5, 4),)]
    # call 0: addmm 2x4x3 forward, then grad of the weight (3x2x4) in backward; call 1: 5x4x3
    assert calls["macs"].tolist() == [2 * 4 * 3 + 3 * 2 * 4, 5 * 4 * 3]
    with pytest.raises(OpCountError, match="'nope'"):
        c.by_call("nope")
