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


def format_compact(value: int, unit: str) -> str:
    """About three significant digits, for table cells: ``4089184256, "MACs"`` -> ``"4.09 GMACs"``,
    ``118013952`` -> ``"118 MMACs"``, ``512`` -> ``"512 MACs"``, ``0`` -> ``"0"``."""
    if value == 0:
        return "0"
    for i, (scale, prefix) in enumerate(_COMPUTE_PREFIXES):
        scaled = value / scale
        if abs(scaled) < 1:
            continue
        size = abs(scaled)
        digits = 2 if round(size, 2) < 10 else 1 if round(size, 1) < 100 else 0
        if round(abs(scaled), digits) >= 1000 and i > 0:  # 999.6M is shown as 1.00G
            scale, prefix = _COMPUTE_PREFIXES[i - 1]
            scaled, digits = value / scale, 2
        return f"{scaled:.{digits}f} {prefix}{unit}"
    return f"{value} {unit}"


def format_count(value: int) -> str:
    """An exact integer with thousands separators: ``25557032`` -> ``"25,557,032"``."""
    return f"{value:,}"


def format_share(share: float) -> str:
    """A fraction of a total as a percentage: ``0.3317`` -> ``"33.2%"``, tiny ones ``"<0.1%"``."""
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    if share >= 0.9995:
        return f"{share * 100:.0f}%"
    return f"{share * 100:.1f}%"


def format_shape(shape: Sequence[int] | None) -> str:
    """``(1, 3, 224, 224)`` -> ``"1x3x224x224"``; a 0-d tensor -> ``"scalar"``; None -> ``""``."""
    if shape is None:
        return ""
    if len(shape) == 0:
        return "scalar"
    return "x".join(str(d) for d in shape)


def format_shapes(shapes: Sequence[Sequence[int]] | None) -> str:
    """Several tensors' shapes: ``((1, 3), (2,))`` -> ``"1x3, 2"``."""
    return ", ".join(format_shape(s) for s in shapes or ())


def elide(text: str, width: int, keep: str = "end") -> str:
    """``text`` cut to ``width`` characters with ``…``, keeping its ``"end"`` or ``"start"``."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    if keep == "end":
        return "…" + text[len(text) - width + 1 :]
    return text[: width - 1] + "…"


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: str,
    footer: Sequence[Sequence[str]] = (),
) -> str:
    """A plain-text table; ``align`` has one ``<`` or ``>`` per column. ``footer`` rows (totals)
    follow a second rule."""
    widths = [len(h) for h in headers]
    for row in [*rows, *footer]:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if align[i] == "<" else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [line(headers), rule, *(line(r) for r in rows)]
    if footer:
        lines += [rule, *(line(r) for r in footer)]
    return "\n".join(lines)
