"""PyTorch's own operator database (OpInfo ``op_db``) as an outside check of the counter.

Every float32 CPU sample runs plain and inside ``OpCounter`` (forward, and backward where the op
supports autograd): the counter must cause no exception, change no output, gradient or mutated
input, and classify every aten op it sees (counted, free or unsupported, with a category). The
fast subset (``FAST_OPS``, first sample each) runs in CI; the full sweep is marked slow
(``pytest -m slow``) and also checks the issue's goal: at least 97% of the distinct aten ops it
reaches are counted or free, and no matrix product, convolution or attention is unsupported.
``python scripts/op_coverage.py`` prints the same sweep's coverage by op.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from opcount.formulas import CATEGORIES

pytest.importorskip("expecttest")  # op_db's import needs both
pytest.importorskip("hypothesis")

import opinfo_sweep
from opinfo_sweep import FAST_OPS, Coverage, SampleResult

STATUSES = {"counted", "free", "unsupported"}

KNOWN_COUNTER_EFFECTS: dict[str, str] = {}
"""OpInfos whose results the counter is known to change, with the reason (tolerated, listed)."""


@cache
def _by_name() -> dict[str, Any]:
    return {opinfo_sweep.opinfo_name(op): op for op in opinfo_sweep.op_db()}


def check_classified(result: SampleResult) -> None:
    """Every op seen has a status and a category, and no formula raised."""
    for seen in result.ops:
        assert seen.status in STATUSES, seen
        assert seen.category in CATEGORIES, seen
    assert not result.formula_errors, result.formula_errors


@pytest.mark.parametrize("name", FAST_OPS)
def test_fast_subset_first_sample(name: str) -> None:
    op = _by_name()[name]
    results = list(opinfo_sweep.sweep([op], limit=1))
    assert len(results) == 1, results
    assert results[0].index == 0, results
    result = results[0]
    assert not result.problems, result.problems
    assert result.raised is None, result.raised
    check_classified(result)
    unsupported = [seen.op for seen in result.ops if seen.status == "unsupported"]
    assert not unsupported, f"{name} reached ops without a formula: {unsupported}"
    assert result.ops, "the sample ran no aten op"


def test_fast_subset_covers_every_family() -> None:
    # the subset names one OpInfo per family at least, and every name exists in this torch
    assert len(FAST_OPS) == len(set(FAST_OPS)) >= 60
    assert [opinfo_sweep.opinfo_name(op) for op in opinfo_sweep.fast_ops()] == list(FAST_OPS)


def test_harness_flags_a_counter_that_changes_results() -> None:
    # the comparison is not vacuous: a formula that writes into its output is caught
    import torch

    from opcount import OpCounter

    def corrupting(args: Any, kwargs: Any, out: Any) -> tuple[int, int]:
        out.add_(1)
        return 0, 0

    op = _by_name()["exp"]
    sample = next(opinfo_sweep.samples(op, 1))[1]
    plain = opinfo_sweep.run_once(op, sample, backward=False)
    with OpCounter(warn=False, formulas={torch.ops.aten.exp: corrupting}):
        counted = opinfo_sweep.run_once(op, sample, backward=False)
    assert opinfo_sweep.compare_runs(plain, counted, exact=True) == ["outputs differ"]


@pytest.mark.slow
def test_full_sweep() -> None:
    coverage = Coverage(opinfos=len(_by_name()))
    for result in opinfo_sweep.sweep(list(_by_name().values())):
        coverage.add(result)
        check_classified(result)
    problems = [p for p in coverage.problems if p.split("[", 1)[0] not in KNOWN_COUNTER_EFFECTS]
    assert not problems, "\n".join(problems)
    assert coverage.covered() >= 0.97, "\n".join(coverage.summary())
    assert not coverage.guarded_unsupported(), coverage.guarded_unsupported()
