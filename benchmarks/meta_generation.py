"""Meta-device generation: a Llama-2-70B-shaped Hugging Face config, a 128-token prefill and 32
decode steps through its own KV cache, counted on ``meta`` (part of the ``meta_scale`` family).

Runs in a subprocess (``python -m benchmarks.meta_generation LAYERS``) so its peak RSS is its
own. Checked exactly against closed forms (see :func:`step_macs`) per step: prefill MACs with
the prompt attending to itself, decode step k with one query against prompt + k keys, and the
KV cache the last step reads, 2 x layers x batch x keys x kv_heads x head_dim x itemsize.
"""

from __future__ import annotations

import json
import sys
import time

from .meta_scale import Shape, peak_rss_mib, run_child
from .timing import Result, under_limit

NAME = "meta_scale"
PROMPT, DECODE_STEPS = 128, 32


def step_macs(s: Shape, tokens: int, keys: int) -> int:
    """MACs of one forward feeding ``tokens`` positions per sequence against ``keys`` keys:
    every matmul weight of the layers once per token, ``q @ k^T`` and ``p @ v`` per head over
    tokens x keys (the mask applied, not skipped), and the LM head on the last position only
    (``logits_to_keep=1``, as ``generate()`` asks)."""
    layer_weights = (s.matmul_weights() - s.d * s.vocab) // s.layers
    attention = 2 * s.heads * tokens * keys * s.head_dim
    return s.batch * (s.layers * (layer_weights * tokens + attention) + s.d * s.vocab)


def child(layers: int) -> dict[str, float | int | bool]:
    """Build, count and check one generation; the numbers the parent reports."""
    import torch
    import transformers

    from opcount.cli.hf import count_generation, run_generation
    from opcount.cli.models import LoadedModel

    s = Shape(layers=layers, seq=PROMPT)
    config = transformers.LlamaConfig(
        num_hidden_layers=s.layers,
        hidden_size=s.d,
        num_attention_heads=s.heads,
        num_key_value_heads=s.kv_heads,
        intermediate_size=s.ffn,
        vocab_size=s.vocab,
    )
    start = time.perf_counter()
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config).eval()
    ids = torch.zeros(s.batch, PROMPT, dtype=torch.int64, device="meta")
    loaded = LoadedModel("llama-70b", model, (ids,))
    built = time.perf_counter()
    cpu_start = time.process_time()  # beside wall time: on a shared machine wall time waits
    run_generation(loaded, DECODE_STEPS)  # the same steps uncounted: what meta itself costs
    plain, cpu_plain = time.perf_counter(), time.process_time()
    counter, held = count_generation(loaded, DECODE_STEPS)
    counted, cpu_counted = time.perf_counter(), time.process_time()
    steps = counter.generation_steps()
    reported = time.perf_counter()
    macs = [int(m) for m in steps["macs"]]
    expected = [step_macs(s, PROMPT, PROMPT)]
    expected += [step_macs(s, 1, PROMPT + k) for k in range(1, DECODE_STEPS + 1)]
    kv_expected = 2 * s.layers * s.batch * (PROMPT + DECODE_STEPS) * s.kv_heads * s.head_dim * 4
    return {
        "layers": layers,
        "rows": len(counter.to_dataframe()),
        "build_s": built - start,
        "plain_s": plain - built,
        "count_s": counted - plain,
        "plain_cpu_s": cpu_plain - cpu_start,
        "count_cpu_s": cpu_counted - cpu_plain,
        "report_s": reported - counted,
        "peak_rss_mib": peak_rss_mib(),
        "prefill_macs": macs[0],
        "expected_prefill_macs": expected[0],
        "decode_macs": sum(macs[1:]),
        "expected_decode_macs": sum(expected[1:]),
        "steps_exact": macs == expected,
        "last_kv_bytes": held[-1],
        "expected_last_kv_bytes": kv_expected,
        "complete": counter.complete,
    }


def run(quick: bool) -> list[Result]:
    layers = 8 if quick else 80
    r = run_child("benchmarks.meta_generation", layers)
    full = not quick
    label = f"{layers}-layer HF Llama, {PROMPT}-token prefill + {DECODE_STEPS} decode steps"
    return [
        Result(NAME, f"{label}: build on meta", r["build_s"], "s"),
        Result(NAME, f"{label}: plain run on meta, uncounted", r["plain_s"], "s"),
        under_limit(
            NAME, f"{label}: count ({r['rows']:,} rows)", r["count_s"], "s", 10, judged=full
        ),
        Result(NAME, f"{label}: counted / plain run, wall time", r["count_s"] / r["plain_s"], "x"),
        Result(NAME, f"{label}: plain run, CPU time", r["plain_cpu_s"], "s"),
        Result(NAME, f"{label}: count, CPU time", r["count_cpu_s"], "s"),
        Result(NAME, f"{label}: generation_steps() of those rows", r["report_s"], "s"),
        Result(NAME, f"{label}: peak RSS of the process", r["peak_rss_mib"] / 1024, "GiB"),
        Result(
            NAME,
            f"{label}: prefill MACs = closed form",
            r["prefill_macs"],
            "MACs",
            None,
            f"= {r['expected_prefill_macs']:,}",
            r["prefill_macs"] == r["expected_prefill_macs"],
        ),
        Result(
            NAME,
            f"{label}: decode MACs = closed form, every step",
            r["decode_macs"],
            "MACs",
            None,
            f"= {r['expected_decode_macs']:,}",
            bool(r["steps_exact"]),
        ),
        Result(
            NAME,
            f"{label}: KV cache of the last step",
            r["last_kv_bytes"],
            "bytes",
            None,
            f"= {r['expected_last_kv_bytes']:,}",
            r["last_kv_bytes"] == r["expected_last_kv_bytes"],
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(child(int(sys.argv[1]))))
