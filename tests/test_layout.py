"""The package's layers, enforced from the imports: each subpackage may import only what its
``__init__`` docstring says (the README's development section states the same rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

# read from the source tree, not imported: a forbidden import may well be a circular one
PACKAGE = Path(__file__).resolve().parent.parent / "src" / "opcount"

# part -> the parts of opcount it may import (itself always allowed). A part is a subpackage or a
# top-level module, named as below; "" is the package's own __init__ / __main__.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "devices": {"errors"},
    "formulas": {"errors"},
    "engine": {"errors", "formulas"},
    "reports": {"errors", "formulas", "engine"},
    "regions": {"errors"},
    "generation": {"errors", "engine", "reports"},
    "counter": {"errors", "formulas", "engine", "reports", "regions", "generation", "timing"}
    | {"distributed", "devices"},
    "compat": {"errors", "formulas", "reports", "counter"},
    "cli": {"errors", "formulas", "engine", "reports", "counter", "devices", "training"}
    | {"generation", "timing"},
    "training": {"errors", "formulas", "engine", "reports", "counter", "devices"},
    "distributed": {"errors", "formulas", "engine", "reports"},
    "timing": {"errors", "formulas", "engine", "reports", "devices"},
    "": {"errors", "formulas", "engine", "reports", "counter", "cli", "compat", "devices"}
    | {"training", "distributed", "timing", "regions", "generation"},
}
# third-party packages a part must not import, even lazily: the engine sits on the hot path and
# knows nothing of tables or printing
FORBIDDEN_EXTERNAL: dict[str, set[str]] = {
    "engine": {"pandas", "matplotlib", "pyarrow", "plotly", "tqdm"},
    "formulas": {"pandas", "matplotlib", "pyarrow", "plotly", "tqdm"},
    "regions": {"torch", "pandas", "numpy", "transformers"},
}


def part_of(module: str) -> str:
    """The part a module is in: ``opcount.engine.mode`` -> ``engine``, ``opcount`` -> ``""``."""
    names = module.split(".")
    if names[0] != "opcount":
        raise ValueError(f"not an opcount module: {module!r}")
    return "" if len(names) == 1 or names[1] in ("__init__", "__main__") else names[1]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    names = list(relative.parts)
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module an opcount file imports (relative imports resolved), with its line, including
    imports inside functions and ``TYPE_CHECKING`` blocks."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # "from . import frames" imports the submodule opcount.<pkg>.frames
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """The forbidden imports of one file, as readable lines."""
    part = part_of(module)
    allowed = ALLOWED[part] | {part}
    problems: list[str] = []
    seen: set[tuple[int, str]] = set()
    for line, target in imported_modules(source, module, is_package):
        top = target.split(".")[0]
        if top == "opcount":
            other = part_of(target)
            is_part = (PACKAGE / other).is_dir() or (PACKAGE / f"{other}.py").is_file()
            # "from . import __version__" names an attribute, not a part
            if other and is_part and other not in allowed and (line, other) not in seen:
                seen.add((line, other))
                problems.append(
                    f"{module}:{line} imports {target} ({part or 'opcount'} -> {other})"
                )
        elif top in FORBIDDEN_EXTERNAL.get(part, set()):
            problems.append(f"{module}:{line} imports {target} ({part} may not use {top})")
    return problems


def package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_rule() -> None:
    parts = {part_of(module_name(path)) for path in package_files()}
    assert parts <= set(ALLOWED), f"parts without a dependency rule: {sorted(parts - set(ALLOWED))}"


def test_no_forbidden_import() -> None:
    problems = [
        problem
        for path in package_files()
        for problem in violations(path.read_text(), module_name(path), path.name == "__init__.py")
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from ..reports import frames", "opcount.engine.mode"),
        ("from ..reports.frames import COLUMNS", "opcount.engine.mode"),
        ("def f():\n    import pandas\n", "opcount.engine.tracker"),
        ("from ..counter import OpCounter", "opcount.reports.plot"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..counter import X\n",
            "opcount.reports.table",
        ),
        ("from .. import counter", "opcount.engine.events"),
        ("from ..engine import mode", "opcount.formulas.matmul"),
        ("import opcount.cli", "opcount.counter"),
    ],
)
def test_the_check_catches_a_forbidden_import(source: str, module: str) -> None:
    assert violations(source, module), f"{module}: {source!r} should be refused"


def test_allowed_imports_pass_the_check() -> None:
    assert not violations("from ..formulas import REGISTRY\nimport torch\n", "opcount.engine.mode")
    assert not violations("from .engine.mode import CountingMode\n", "opcount.counter")
    assert not violations("from . import frames\n", "opcount.reports", is_package=True)


@pytest.mark.parametrize(
    "package", sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py")), ids=str
)
def test_each_subpackage_says_what_it_may_import(package: str) -> None:
    docstring = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text()))
    assert docstring, f"opcount/{package}/__init__.py has no docstring"
    assert "import" in docstring, f"opcount/{package}'s docstring does not say what it may import"
