"""docs/formulas.md is generated from the code and must match it (so it cannot rot)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from opcount.formulas import FREE_OPS, REGISTRY
from opcount.formulas.costs import DEFAULT_COSTS

ROOT = Path(__file__).resolve().parent.parent


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_formula_docs", ROOT / "scripts" / "gen_formula_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_reference_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "formulas.md").read_text(encoding="utf-8")
    assert committed == generator().render(), (
        "docs/formulas.md is out of date: run python scripts/gen_formula_docs.py"
    )


def test_reference_lists_every_cost_op_and_free_op() -> None:
    text = generator().render()
    for name, flops in DEFAULT_COSTS.items():
        assert f"| `{name}` | {flops} |" in text
    for packet in [*REGISTRY.packets(), *FREE_OPS]:
        assert f"`{str(packet).replace('::', '.')}`" in text
