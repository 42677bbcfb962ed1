"""docs/formulas.md is generated from the code and must match it (so it cannot rot)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

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
    made_with = re.search(r"Generated with torch\s+(\S+):", committed)
    assert made_with is not None, "docs/formulas.md does not say which torch made it"
    if made_with.group(1) != generator().torch_release():
        # the registered ops follow the installed torch; the file is made on the pinned one
        pytest.skip(f"docs/formulas.md lists torch {made_with.group(1)}'s ops")
    assert committed == generator().render(), (
        "docs/formulas.md is out of date: run python scripts/gen_formula_docs.py"
    )


def test_reference_lists_every_cost_op_and_free_op() -> None:
    text = generator().render()
    for name, flops in DEFAULT_COSTS.items():
        assert f"| `{name}` | {flops} |" in text
    for packet in [*REGISTRY.packets(), *FREE_OPS]:
        assert f"`{str(packet).replace('::', '.')}`" in text
