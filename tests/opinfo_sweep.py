"""Run PyTorch's OpInfo database under OpCounter: the engine of the OpInfo test and
``scripts/op_coverage.py``.

Each sample input runs twice from the same seed, once plain and once inside
``OpCounter(warn=False)``, forward and (where the op supports autograd) backward of the sum of
the outputs' real parts. A :class:`SampleResult` says whether the counter changed anything (an
exception, an output, a gradient, a mutated input) and which aten ops it saw, with their status
and category. Importing ``op_db`` needs ``expecttest`` and ``hypothesis``.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from opcount import OpCounter

DTYPE = torch.float32
DEVICE = "cpu"

FAST_OPS: tuple[str, ...] = (
    # pointwise, unary and binary, in-place and scalar forms
    "add",
    "mul",
    "div.no_rounding_mode",
    "pow",
    "exp",
    "sqrt",
    "abs",
    "clamp",
    "where",
    "lerp",
    "addcmul",
    "eq",
    # activations, softmax, losses, dropout
    "nn.functional.relu",
    "nn.functional.gelu",
    "nn.functional.silu",
    "nn.functional.hardswish",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "nn.functional.cross_entropy",
    "nn.functional.mse_loss",
    "nn.functional.binary_cross_entropy_with_logits",
    "nn.functional.dropout",
    # matrix products, convolution, attention
    "matmul",
    "mm",
    "addmm",
    "bmm",
    "einsum",
    "nn.functional.linear",
    "nn.functional.conv2d",
    "nn.functional.conv_transpose2d",
    "nn.functional.scaled_dot_product_attention",
    # normalisation
    "nn.functional.layer_norm",
    "nn.functional.batch_norm",
    "nn.functional.group_norm",
    # reductions, scans, sorting
    "sum",
    "mean",
    "var",
    "amax",
    "cumsum",
    "sort",
    "topk",
    "linalg.vector_norm",
    # pooling, resizing
    "nn.functional.max_pool2d",
    "nn.functional.avg_pool2d",
    "nn.functional.adaptive_avg_pool2d",
    "nn.functional.interpolate.bilinear",
    "nn.functional.grid_sample",
    # embedding, indexing, copies, views
    "nn.functional.embedding",
    "gather",
    "scatter_add",
    "index_select",
    "index_put",
    "cat",
    "stack",
    "nn.functional.pad.constant",
    "reshape",
    "transpose",
    # linear algebra, FFT, special functions, distances
    "linalg.cholesky",
    "linalg.solve",
    "linalg.svd",
    "fft.fft",
    "fft.rfft",
    "special.i0e",
    "cdist",
)
"""The CI subset: one or two representative OpInfos per op family (first sample only)."""

UNINITIALISED = frozenset(
    ("empty", "empty_like", "empty_strided", "empty_permuted", "new_empty", "new_empty_strided")
)
"""OpInfos whose outputs are uninitialised memory: only shapes and dtypes can agree."""


@dataclass
class OpSeen:
    """One aten op a sample ran under the counter."""

    op: str
    status: str
    category: str
    calls: int


@dataclass
class SampleResult:
    """The outcome of one sample input, plain and counted."""

    opinfo: str
    index: int
    problems: list[str] = field(default_factory=list)
    ops: list[OpSeen] = field(default_factory=list)
    formula_errors: list[str] = field(default_factory=list)
    raised: str | None = None
    """The exception both runs raised alike (not a problem), if any."""
    mode_effects: list[str] = field(default_factory=list)
    """Differences from the plain run that a do-nothing dispatch mode causes as well."""


def opinfo_name(op: Any) -> str:
    """``name`` or ``name.variant`` of an OpInfo, as the test ids and :data:`FAST_OPS` say it."""
    return f"{op.name}.{op.variant_test_name}" if op.variant_test_name else str(op.name)


def op_db() -> list[Any]:
    """PyTorch's OpInfos that run in float32 on CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal.common_methods_invocations import op_db as database
    return [op for op in database if DTYPE in op.supported_dtypes(DEVICE)]


def fast_ops() -> list[Any]:
    """The OpInfos of :data:`FAST_OPS`, in that order; fails naming any that is missing."""
    by_name = {opinfo_name(op): op for op in op_db()}
    missing = [name for name in FAST_OPS if name not in by_name]
    assert not missing, f"OpInfos not in this torch's op_db: {missing}"
    return [by_name[name] for name in FAST_OPS]


def samples(op: Any, limit: int | None = None) -> Iterator[tuple[int, Any]]:
    """``(index, sample)`` for the op's float32 CPU sample inputs (the first ``limit``)."""
    torch.manual_seed(0)
    generated = op.sample_inputs(DEVICE, DTYPE, requires_grad=op.supports_autograd)
    for index, sample in enumerate(generated):
        if limit is not None and index >= limit:
            return
        yield index, sample


def _clone(value: Any) -> Any:
    """A fresh leaf copy of a tensor (keeping ``requires_grad``); anything else as is."""
    if not isinstance(value, torch.Tensor):
        return value
    copy = value.detach().clone()
    if value.requires_grad:
        copy.requires_grad_(True)
    return copy


@dataclass
class Run:
    """What one run of a sample produced."""

    error: BaseException | None = None
    outputs: Any = None
    inputs_after: Any = None
    grads: Any = None


def run_once(op: Any, sample: Any, backward: bool) -> Run:
    """Run ``op`` on a fresh copy of ``sample`` from seed 0: forward, then backward of the sum
    of the outputs' real parts with respect to every input that requires grad."""
    sample_input, sample_args, sample_kwargs = tree_map(
        _clone, (sample.input, sample.args, sample.kwargs)
    )
    leaves = [
        t
        for t in tree_flatten((sample_input, sample_args, sample_kwargs))[0]
        if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    result = Run()
    torch.manual_seed(0)
    try:
        out = op(sample_input, *sample_args, **sample_kwargs)
        result.outputs = out
        result.inputs_after = (sample_input, sample_args, sample_kwargs)
        if backward and leaves:
            processed = sample.output_process_fn_grad(out)
            parts = [
                (t.real if t.is_complex() else t).sum()
                for t in tree_flatten(processed)[0]
                if isinstance(t, torch.Tensor) and t.requires_grad
            ]
            if parts:
                loss = torch.stack(parts).sum() if len(parts) > 1 else parts[0]
                result.grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    except Exception as error:
        result.error = error
    return result


_WIDER = {torch.complex32: torch.complex64}


def _same_tensor(a: torch.Tensor, b: torch.Tensor, exact: bool) -> bool:
    """Same dtype and shape, and (``exact``) equal values with NaN equal to NaN."""
    if a.dtype != b.dtype or a.shape != b.shape or a.layout != b.layout:
        return False
    if not exact:
        return True
    if a.layout != torch.strided:
        a, b = a.to_dense(), b.to_dense()
    if a.dtype in _WIDER:  # dtypes without a CPU equal kernel
        a, b = a.to(_WIDER[a.dtype]), b.to(_WIDER[a.dtype])
    if torch.equal(a, b):
        return True
    if a.is_floating_point() or a.is_complex():
        both_nan = torch.isnan(a) & torch.isnan(b)
        return bool(((a == b) | both_nan).all())
    return False


def _same(a: Any, b: Any, exact: bool) -> bool:
    """Whether two (nested) results are identical: tensors by :func:`_same_tensor`."""
    flat_a, spec_a = tree_flatten(a)
    flat_b, spec_b = tree_flatten(b)
    if spec_a != spec_b or len(flat_a) != len(flat_b):
        return False
    for x, y in zip(flat_a, flat_b):
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
                return False
            if not _same_tensor(x, y, exact):
                return False
        elif isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        elif exact and x != y:
            return False
    return True


def _error_text(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {str(error).splitlines()[0:1]}"


def compare_runs(plain: Run, counted: Run, exact: bool) -> list[str]:
    """What differs between a plain and a counted run (empty if nothing)."""
    if (plain.error is None) != (counted.error is None):
        return [f"plain raised {_error_text(plain.error)}, counted {_error_text(counted.error)}"]
    if plain.error is not None:
        if type(plain.error) is not type(counted.error):
            return [
                f"plain raised {_error_text(plain.error)}, counted {_error_text(counted.error)}"
            ]
        return []
    problems = []
    for what in ("outputs", "inputs_after", "grads"):
        if not _same(getattr(plain, what), getattr(counted, what), exact):
            problems.append(f"{what} differ")
    return problems


class PassThroughMode(TorchDispatchMode):
    """A dispatch mode that only runs each op: the baseline for what any mode changes."""

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return func(*args, **(kwargs or {}))


def run_sample(op: Any, index: int, sample: Any) -> SampleResult:
    """Run one sample plain and counted and compare them (see the module docstring).

    Ops with uninitialised outputs (:data:`UNINITIALISED`) and samples whose two plain runs
    from the same seed differ (random ops) are compared on shapes and dtypes only. A difference
    that a do-nothing dispatch mode causes as well is torch's, not the counter's: with any
    mode active, autograd formulas that check ``isTensorSubclassLike`` take their
    subclass-friendly path (``prod``'s backward, for one). It is recorded in ``mode_effects``,
    not in ``problems``.
    """
    name = opinfo_name(op)
    result = SampleResult(name, index)
    backward = bool(op.supports_autograd)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = run_once(op, sample, backward)
        counter = OpCounter(warn=False)
        try:
            with counter:
                counted = run_once(op, sample, backward)
        except Exception as error:  # the counter itself raised on exit
            result.problems.append(f"OpCounter raised {_error_text(error)}")
            return result
        exact = op.name not in UNINITIALISED
        problems = compare_runs(plain, counted, exact)
        if problems and compare_runs(plain, run_once(op, sample, backward), exact=True):
            problems = compare_runs(plain, counted, exact=False)  # nondeterministic op
        if problems:
            with PassThroughMode():
                other_mode = run_once(op, sample, backward)
            if not compare_runs(other_mode, counted, exact=True):
                result.mode_effects.extend(problems)
                problems = []
    result.problems.extend(problems)
    if plain.error is not None and counted.error is not None:
        result.raised = _error_text(plain.error)
    result.problems.extend(f"tracking: {p}" for p in counter.tracking_problems)
    rows = counter.to_dataframe()
    if len(rows):
        grouped = rows.groupby(["op", "status", "category"], dropna=False).size()
        for (op_name, status, category), calls in grouped.items():
            result.ops.append(OpSeen(str(op_name), str(status), str(category), int(calls)))
        unsupported = counter.unsupported_ops()
        for op_name, reason in zip(unsupported["op"], unsupported["reason"]):
            if reason != "no formula":
                result.formula_errors.append(f"{op_name}: {reason}")
    return result


def sweep(
    ops: list[Any],
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[SampleResult]:
    """:func:`run_sample` for the first ``limit`` samples of every op (all without a limit)."""
    for op in ops:
        if progress is not None:
            progress(opinfo_name(op))
        try:
            generated = list(samples(op, limit))
        except Exception as error:  # a sample generator that fails is not the counter's fault
            result = SampleResult(opinfo_name(op), -1, raised=_error_text(error))
            yield result
            continue
        for index, sample in generated:
            try:
                yield run_sample(op, index, sample)
            except Exception as error:  # a bug of this harness: report it, keep sweeping
                yield SampleResult(
                    opinfo_name(op), index, problems=[f"sweep failed: {_error_text(error)}"]
                )


@dataclass
class Coverage:
    """What a sweep reached, aggregated over its samples."""

    opinfos: int = 0
    samples: int = 0
    seconds: float = 0.0
    status: dict[str, str] = field(default_factory=dict)
    category: dict[str, str] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    reached_by: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    problems: list[str] = field(default_factory=list)
    formula_errors: Counter[str] = field(default_factory=Counter)
    raised: int = 0
    mode_effects: list[str] = field(default_factory=list)

    def add(self, result: SampleResult) -> None:
        """Fold one sample's result in."""
        if result.index >= 0:
            self.samples += 1
        if result.raised is not None:
            self.raised += 1
        self.problems.extend(f"{result.opinfo}[{result.index}]: {p}" for p in result.problems)
        self.mode_effects.extend(
            f"{result.opinfo}[{result.index}]: {p}" for p in result.mode_effects
        )
        self.formula_errors.update(result.formula_errors)
        for seen in result.ops:
            # an op whose formula raised on a call shows that call as unsupported: it still
            # has a formula, and the error is listed on its own
            if seen.status != "unsupported" or self.status.get(seen.op) is None:
                self.status[seen.op] = seen.status
            if seen.status != "unsupported" or seen.op not in self.category:
                self.category[seen.op] = seen.category
            self.calls[seen.op] += seen.calls
            self.reached_by[seen.op].add(result.opinfo)

    def by_status(self, status: str) -> list[str]:
        """The distinct ops reached with ``status``, sorted."""
        return sorted(op for op, s in self.status.items() if s == status)

    def covered(self) -> float:
        """The share of distinct ops reached that are counted or free."""
        total = len(self.status)
        return (total - len(self.by_status("unsupported"))) / total if total else 1.0

    def guarded_unsupported(self) -> list[str]:
        """Unsupported ops whose names say matrix product, convolution or attention."""
        return [op for op in self.by_status("unsupported") if _guarded_name(op)]

    def summary(self) -> list[str]:
        """The printed report, line by line."""
        total = len(self.status)
        lines = [
            f"OpInfos run: {self.opinfos}, samples: {self.samples} "
            f"({self.raised} raised alike with and without the counter), "
            f"{self.seconds:.0f} s",
            f"distinct aten ops reached: {total}",
        ]
        for status in ("counted", "free", "unsupported"):
            n = len(self.by_status(status))
            lines.append(f"  {status:<12}{n:>5}  {_percent(n, total)}")
        covered = total - len(self.by_status("unsupported"))
        lines.append(
            f"  {'covered':<12}{covered:>5}  {_percent(covered, total)}  (counted or free)"
        )
        unsupported = self.by_status("unsupported")
        lines.append(
            f"unsupported ops ({len(unsupported)}), with calls and an OpInfo reaching them:"
        )
        for op in unsupported:
            example = sorted(self.reached_by[op])[0]
            lines.append(f"  {op:<48} {self.calls[op]:>6}  {example}")
        guarded = self.guarded_unsupported()
        lines.append(f"unsupported matmul/conv/attention-like ops: {guarded or 'none'}")
        lines.append(f"formula errors ({len(self.formula_errors)}):")
        lines.extend(f"  {error} (x{n})" for error, n in sorted(self.formula_errors.items()))
        lines.append(f"samples the counter changed ({len(self.problems)}):")
        lines.extend(f"  {problem}" for problem in self.problems)
        lines.append(
            f"samples any dispatch mode changes, the counter's alike ({len(self.mode_effects)}):"
        )
        lines.extend(f"  {effect}" for effect in self.mode_effects)
        return lines

    def markdown(self, command: str) -> str:
        """docs/coverage.md: the summary and the per-op table."""
        total = len(self.status)
        covered = total - len(self.by_status("unsupported"))
        out = [
            "# Operator coverage",
            "",
            "Generated by `" + command + "` (do not edit by hand). It runs every float32 CPU",
            "sample input of PyTorch's OpInfo database (`op_db`), forward and backward where",
            "the op supports autograd, under `OpCounter`, and lists every aten op reached.",
            "",
            f"- OpInfos run: {self.opinfos}; sample inputs: {self.samples}",
            f"- distinct aten ops reached: {total}",
        ]
        for status in ("counted", "free", "unsupported"):
            n = len(self.by_status(status))
            out.append(f"- {status}: {n} ({_percent(n, total).strip()})")
        out.append(f"- counted or free: {covered} ({_percent(covered, total).strip()})")
        out.append(f"- formula errors: {len(self.formula_errors)}")
        out.append(f"- samples whose results the counter changed: {len(self.problems)}")
        out.append(
            f"- samples whose results any dispatch mode changes (torch's subclass-friendly "
            f"autograd paths), the counter's alike: {len(self.mode_effects)}"
        )
        out += ["", "## Unsupported", ""]
        unsupported = self.by_status("unsupported")
        if unsupported:
            out += ["| op | calls | reached by (e.g.) |", "| --- | ---: | --- |"]
            out += [
                f"| `{op}` | {self.calls[op]} | `{sorted(self.reached_by[op])[0]}` |"
                for op in unsupported
            ]
        else:
            out.append("None.")
        out += ["", "## Samples whose results the counter changes", ""]
        out += [f"- `{problem}`" for problem in self.problems] or ["None."]
        out += ["", "## Every op reached", "", "| op | status | category | calls |"]
        out.append("| --- | --- | --- | ---: |")
        out += [
            f"| `{op}` | {self.status[op]} | {self.category[op]} | {self.calls[op]} |"
            for op in sorted(self.status)
        ]
        return "\n".join(out) + "\n"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "  n/a"


def _guarded_name(op: str) -> bool:
    """Whether an op's name says it is a matrix product, convolution or attention."""
    name = op.split(".", 1)[-1]
    keys = ("mm", "matmul", "conv", "attention", "attn", "bmm", "addmv", "linear", "einsum")
    return any(key in name for key in keys)
