"""Hugging Face models for the CLI: ``hf:MODEL_TYPE``, ``hf:path/to/config.json`` or ``hf:DIR``.

Models are built from a config alone (``AutoConfig.for_model`` defaults, or a local
``config.json``), with ``--config key=value`` overrides, inside ``torch.device(device)``: nothing
is ever downloaded, and on ``meta`` no weight is allocated. ``--generate N`` drives the model's
own KV cache: a prefill of the prompt, then N decode steps of one token each.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..counter import OpCounter
from ..generation.summary import generation_summary
from ..reports.format import format_bytes, format_compute, render_table
from .inputs import InputSpec
from .models import LoadedModel, ModelError, UsageError, _build, _require

__all__ = [
    "PREFIX",
    "count_generation",
    "load_hf",
    "make_config",
    "render_generation",
    "run_generation",
    "run_hf",
]

PREFIX = "hf:"
DEFAULT_PROMPT = 128
_INSTALL = "'opcount[hf]' (or: pip install transformers)"


def _transformers() -> Any:
    return _require("transformers", _INSTALL)


def _parse_value(text: str) -> Any:
    """``--config`` values: JSON (numbers, true/false, null, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _fields_from_file(path: Path) -> tuple[str, dict[str, Any]]:
    """``(model_type, other fields)`` of a local config.json."""
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"hf:{path}: cannot read it as a config.json ({error})") from error
    if not isinstance(fields, dict) or "model_type" not in fields:
        raise UsageError(f'hf:{path}: a config.json needs a "model_type" field')
    model_type = fields.pop("model_type")
    return str(model_type), fields


def _for_model(model_type: str, transformers: Any, fields: dict[str, Any]) -> Any:
    known = list(transformers.CONFIG_MAPPING.keys())
    if model_type not in known:
        close = difflib.get_close_matches(model_type, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"hf:{model_type}: unknown model type{hint}")
    return transformers.AutoConfig.for_model(model_type, **fields)


def make_config(target: str, overrides: Sequence[str] = ()) -> Any:
    """The config ``hf:target`` names, with ``key=value`` overrides; never downloads.

    Overrides are passed to the config's constructor with the file's fields, so fields it
    derives from others follow them (Llama's ``head_dim`` from ``hidden_size``)."""
    transformers = _transformers()
    path = Path(target)
    if path.is_file():
        model_type, fields = _fields_from_file(path)
    elif path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"hf:{target}: the directory holds no config.json")
        model_type, fields = _fields_from_file(path / "config.json")
    elif "/" in target or target.endswith(".json"):
        raise UsageError(
            f"hf:{target}: no such local file or directory, and nothing is downloaded: "
            "opcount builds models from a local config.json or a model type (hf:llama)"
        )
    else:
        model_type, fields = target, {}
    config = _for_model(model_type, transformers, fields)
    if not overrides:
        return config
    known = set(config.to_dict())
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--config {item!r}: use key=value, e.g. num_hidden_layers=2")
        if key not in known and not hasattr(config, key):
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UsageError(
                f"--config {item!r}: {type(config).__name__} has no field {key!r}{hint}"
            )
        changes[key] = _parse_value(value)
    try:
        return _for_model(model_type, transformers, {**fields, **changes})
    except (ValueError, TypeError) as error:
        raise UsageError(f"--config: {type(config).__name__} refused {changes}: {error}") from error


def _auto_class(config: Any, transformers: Any) -> Any:
    """``AutoModelForCausalLM`` where it knows the config, else ``AutoModel``."""
    for name in ("AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModel"):
        auto = getattr(transformers, name)
        if type(config) in auto._model_mapping:
            return auto
    raise UsageError(f"hf: no auto model class knows {type(config).__name__}")


def load_hf(
    name: str,
    device: str,
    specs: Sequence[InputSpec] | None,
    batch: int | None,
    overrides: Sequence[str] = (),
    prompt: int | None = None,
) -> LoadedModel:
    """The model ``hf:...`` names, built on ``device``, with token ids ``batch x prompt``."""
    target = name[len(PREFIX) :]
    if not target:
        raise UsageError("hf: needs a model type (hf:llama), a config.json or a directory")
    transformers = _transformers()
    config = make_config(target, overrides)
    auto = _auto_class(config, transformers)
    model: nn.Module = _build(auto.from_config, device, config)
    model.eval()
    if specs is None:
        specs = [InputSpec((batch or 1, prompt or DEFAULT_PROMPT), torch.int64)]
    elif batch is not None:
        specs = [s.with_batch(batch) for s in specs]
    args = tuple(spec.make(device) for spec in specs)
    return LoadedModel(name, model, args)


def _cache_argument(model: nn.Module) -> str:
    """The name the model's forward takes its KV cache under (it changed across versions)."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def cache_bytes(cache: Any) -> int:
    """Bytes of the keys and values a ``DynamicCache`` holds (0 where its layout is unknown)."""
    total = 0
    for layer in getattr(cache, "layers", ()):
        for name in ("keys", "values"):
            tensor = getattr(layer, name, None)
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()
    return total


def count_generation(loaded: LoadedModel, new_tokens: int) -> tuple[OpCounter, list[int]]:
    """Count a prefill of the prompt and ``new_tokens`` decode steps of one token each.

    Counted: the model's own forward per step through its own ``DynamicCache``, as
    ``generate()`` calls it (under ``no_grad``, ``position_ids`` given, logits of the last
    position only). Token values are never read, so this runs on ``meta`` too. Returns the
    counter and, per step, the bytes the cache holds after it (the keys and values that step's
    attention read).
    """
    counter = OpCounter(loaded.model, warn=False)
    return counter, _drive(loaded, new_tokens, counter)


def run_generation(loaded: LoadedModel, new_tokens: int) -> list[int]:
    """The same steps as :func:`count_generation`, uncounted (the baseline of benchmarks)."""
    return _drive(loaded, new_tokens, contextlib.nullcontext())


def _drive(
    loaded: LoadedModel, new_tokens: int, context: contextlib.AbstractContextManager[Any]
) -> list[int]:
    transformers = _transformers()
    model = loaded.model
    if not loaded.args or not isinstance(loaded.args[0], torch.Tensor):
        raise UsageError("--generate needs token ids as the first input (e.g. --input 1x128:int64)")
    ids = loaded.args[0]
    if ids.dim() != 2 or ids.is_floating_point():
        raise UsageError(
            f"--generate: the input must be integer token ids BxT, got {list(ids.shape)}"
        )
    batch, prompt = ids.shape
    parameters = inspect.signature(model.forward).parameters
    extra: dict[str, Any] = {"use_cache": True}
    if "logits_to_keep" in parameters:
        extra["logits_to_keep"] = 1
    device = ids.device
    # every step's inputs made before counting: only the model's own work is counted
    steps = [(ids, torch.arange(prompt, device=device).unsqueeze(0).expand(batch, prompt))]
    for k in range(new_tokens):
        token = torch.zeros(batch, 1, dtype=ids.dtype, device=device)
        steps.append((token, torch.full((batch, 1), prompt + k, device=device)))
    cache = transformers.DynamicCache(config=model.config)
    extra[_cache_argument(model)] = cache
    held: list[int] = []
    try:
        with torch.no_grad(), context:
            for input_ids, position_ids in steps:
                model(input_ids=input_ids, position_ids=position_ids, **extra)
                held.append(cache_bytes(cache))  # metadata only: no op dispatched
    except Exception as error:
        raise ModelError(f"the model failed: {type(error).__name__}: {error}") from error
    return held


def render_generation(counter: OpCounter, held: Sequence[int] = ()) -> str:
    """The generation summary as a table with units. Where no attention kernel ran (on
    ``meta`` torch runs scaled-dot-product attention as matmuls), the KV-cache bytes are
    those the cache held at each step, ``held``."""
    steps = counter.generation_steps()
    if not steps["kv_cache_bytes"].any() and len(held) == len(steps):
        steps["kv_cache_bytes"] = list(held)
    summary = generation_summary(steps)
    headers = ["stage", "steps", "tokens", "MACs", "FLOPs", "bytes read", "KV-cache bytes"]
    rows = []
    for record in summary.to_dict("records"):
        rows.append(
            [
                str(record["stage"]),
                str(record["steps"]),
                f"{record['tokens']:g}"
                if isinstance(record["tokens"], float)
                else str(record["tokens"]),
                format_compute(round(record["macs"]), "MACs"),
                format_compute(round(record["flops"]), "FLOPs"),
                format_bytes(round(record["bytes_read"])),
                format_bytes(round(record["kv_cache_bytes"])),
            ]
        )
    return render_table(headers, rows, "<>>>>>>")


def run_hf(
    args: argparse.Namespace,
    name: str,
    specs: Sequence[InputSpec] | None,
    dtype: torch.dtype | None,
    print_single: Callable[[argparse.Namespace, LoadedModel, OpCounter], None],
    export: Callable[[argparse.Namespace, OpCounter], None],
) -> int:
    """The CLI for one ``hf:`` model: the module table, or with ``--generate`` the summary."""
    from .runner import count_run

    if args.prompt is not None and args.prompt < 1:
        raise UsageError(f"--prompt {args.prompt}: must be a positive integer")
    if args.generate is not None and args.generate < 0:
        raise UsageError(f"--generate {args.generate}: must be 0 or more decode steps")
    if args.generate is not None and (args.backward or args.train):
        raise UsageError("--generate counts inference: not with --backward or --train")
    if args.prompt is not None and specs is not None:
        raise UsageError("--prompt sets the length of the default input; not with --input")
    loaded = load_hf(name, args.device, specs, args.batch, args.config or (), args.prompt)
    if dtype is not None:
        loaded.model.to(dtype)
    if args.generate is None:
        counter = count_run(loaded, backward=args.backward, train=args.train, dtype=None)
        print_single(args, loaded, counter)
    else:
        counter, held = count_generation(loaded, args.generate)
        shape = list(loaded.args[0].shape)
        print(f"{name}, prompt {shape}, prefill + {args.generate} decode steps, {args.device}")
        if not args.quiet:
            print(counter.table(depth=args.depth))
            print()
        print(render_generation(counter, held))
    export(args, counter)
    return 0
