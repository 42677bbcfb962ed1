"""Human units for printing: K = 1,000. Pure functions of numbers; no torch imports.

Data stays integer everywhere else; scaling happens only here.
"""

from __future__ import annotations

from collections.abc import Sequence

_COMPUTE_PREFIXES = ((10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_PARAM_PREFIXES = ((10**9, "B"), (10**6, "M"), (10**3, "K"))


def _scaled(value: int, prefixes: Sequence[tuple[int, str]], digits: int) -> str:
    for scale, prefix in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}f}{prefix}"
    return str(value)


def format_compute(value: int, unit: str, digits: int = 3) -> str:
    """``4089184256, "MACs"`` -> ``"4.089 GMACs"``; ``512, "FLOPs"`` -> ``"512 FLOPs"``."""
    text = _scaled(value, _COMPUTE_PREFIXES, digits)
    if text[-1].isdigit():
        return f"{text} {unit}"
    return f"{text[:-1]} {text[-1]}{unit}"


def format_params(value: int, digits: int = 2) -> str:
    """Parameters as model names say them: ``25557032`` -> ``"25.56M"``, ``7e9`` -> ``"7.00B"``."""
    return _scaled(value, _PARAM_PREFIXES, digits)


def format_bytes(value: int, digits: int = 2) -> str:
    """Bytes in decimal units: ``1_500_000`` -> ``"1.50 MB"``."""
    text = _scaled(value, _COMPUTE_PREFIXES, digits)
    if text[-1].isdigit():
        return f"{text} B"
    return f"{text[:-1]} {text[-1]}B"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> str:
    """A plain-text table; ``align`` has one ``<`` or ``>`` per column."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if align[i] == "<" else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
