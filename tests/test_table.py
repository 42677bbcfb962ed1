"""The printed report: unit helpers and table functions on hand-written data (no model), and
golden tables of two fixture models with the invariants that their rows add up to the totals.

Regenerate the golden files on purpose only: ``OPCOUNT_UPDATE_GOLDEN=1 pytest tests/test_table.py``.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from opcount import OpCounter, OpCountError
from opcount.reports.format import (
    elide,
    format_compact,
    format_count,
    format_shape,
    format_shapes,
    format_share,
    render_table,
)
from opcount.reports.table import (
    cell,
    default_columns,
    fit_columns,
    module_label,
    module_table,
    note_lines,
    render_html,
    render_report,
    resolve_columns,
    summary_lines,
    tree_levels,
)
from report_models import TinyTransformer, TwoTower

GOLDEN = Path(__file__).parent / "golden"

PINNED_COSTS = {"attention_scale": 1, "softmax": 5, "softmax_backward": 4, "bias_add": 1}
"""The per-element costs the fixtures' attention and bias FLOPs use, pinned so that tuning the
default cost table does not change the golden tables."""


# -- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (7, "7 MACs"),
        (999, "999 MACs"),
        (1_000, "1.00 KMACs"),
        (4_089_184_256, "4.09 GMACs"),
        (118_013_952, "118 MMACs"),
        (16_121_000_000, "16.1 GMACs"),
        (999_600_000, "1.00 GMACs"),  # rounds up into the next prefix, never "1000 MMACs"
        (9_996_000, "10.0 MMACs"),
        (12_345_678_901_234_567, "12.3 PMACs"),
    ],
)
def test_format_compact(value: int, text: str) -> None:
    assert format_compact(value, "MACs") == text


def test_small_formatters() -> None:
    assert format_count(25_557_032) == "25,557,032"
    assert [format_share(s) for s in (0, 0.00001, 0.3317, 0.9996, 1.0)] == [
        "0%",
        "<0.1%",
        "33.2%",
        "100%",
        "100%",
    ]
    assert format_shape((1, 3, 224, 224)) == "1x3x224x224"
    assert format_shape(()) == "scalar"
    assert format_shape(None) == ""
    assert format_shapes(((2, 10), (2, 10))) == "2x10, 2x10"
    assert elide("layer1.0.downsample", 10) == "…ownsample"
    assert elide("TransformerEncoderLayer", 8, keep="start") == "Transfo…"
    assert elide("short", 8) == "short"


def test_render_table_with_footer() -> None:
    text = render_table(["a", "bb"], [["x", "1"], ["yy", "22"]], "<>", footer=[["t", "23"]])
    assert text.splitlines() == ["a   bb", "--  --", "x    1", "yy  22", "--  --", "t   23"]


# -- table pieces on hand-written records ------------------------------------------------------


RECORDS = [
    {
        "module": "",
        "depth": 0,
        "module_type": "Net",
        "params": 1_200,
        "forward_macs": 3_000_000,
        "forward_flops": 6_100_000,
        "flops_share": 1.0,
        "output_shapes": ((1, 10),),
    },
    {
        "module": "encoder.0",
        "depth": 2,
        "module_type": "Linear",
        "params": 1_000,
        "forward_macs": 2_000_000,
        "forward_flops": 4_000_000,
        "flops_share": 0.6557,
        "output_shapes": ((1, 10),),
        "weight_shape": (10, 100),
    },
    {
        "module": "<outside>",
        "depth": 0,
        "module_type": "",
        "params": 0,
        "forward_macs": 0,
        "forward_flops": 512,
        "flops_share": 0.00008,
        "output_shapes": (),
    },
]
TOTALS = {"params": 1_200, "forward_macs": 3_000_000, "forward_flops": 6_100_512, "flops_share": 1}


def test_cells_and_labels() -> None:
    assert cell("macs", 2_000_000) == "2.00 MMACs"
    assert cell("flops", 512) == "512 FLOPs"
    assert cell("params", 1_000) == "1.00K"
    assert cell("shape", (10, 100)) == "10x100"
    assert cell("share", 0.6557) == "65.6%"
    assert cell("bytes", 1_500_000) == "1.50 MB"
    assert cell("text", "AVeryLongModuleTypeName") == "AVeryLongModuleType…"
    assert cell("macs", None) == ""
    assert module_label("", 0) == "(root)"
    assert module_label("encoder.0", 1) == "  encoder.0"
    # encoder (a ModuleList that never ran) is not listed: encoder.0 sits one level in
    assert tree_levels(["", "encoder.0", "encoder.0.q", "<outside>"]) == [0, 1, 2, 0]


def test_module_table_text() -> None:
    columns = ["type", "output", "kernel", "params", "macs", "flops", "share"]
    table = module_table(RECORDS, columns, TOTALS, width=None)
    assert table.dropped == []
    assert table.text.splitlines() == [
        "module       type    output shape  kernel  params    fwd MACs    fwd FLOPs  FLOPs %",
        "-----------  ------  ------------  ------  ------  ----------  -----------  -------",
        "(root)       Net     1x10                   1.20K  3.00 MMACs  6.10 MFLOPs     100%",
        "  encoder.0  Linear  1x10          10x100   1.00K  2.00 MMACs  4.00 MFLOPs    65.6%",
        "<outside>                                       0           0    512 FLOPs    <0.1%",
        "-----------  ------  ------------  ------  ------  ----------  -----------  -------",
        "total                                       1.20K  3.00 MMACs  6.10 MFLOPs     100%",
    ]


def test_narrow_width_drops_columns_in_order_and_keeps_numbers() -> None:
    columns = ["type", "output", "kernel", "params", "macs", "flops", "share"]
    table = module_table(RECORDS, columns, TOTALS, width=60)
    assert table.dropped == ["output shape", "kernel", "FLOPs %"]
    assert max(len(line) for line in table.text.splitlines()) <= 60
    assert "fwd MACs" in table.text
    assert "fwd FLOPs" in table.text


def test_fit_columns_keeps_all_when_it_fits() -> None:
    headers = ["module", "input shape", "fwd MACs"]
    rows = [["a", "1x2", "3 MACs"]]
    assert fit_columns(["input", "macs"], headers, rows, 100) == [0, 1, 2]
    assert fit_columns(["input", "macs"], headers, rows, 12) == [0, 2]
    assert fit_columns(["input", "macs"], headers, rows, None) == [0, 1, 2]


def test_long_module_names_are_elided_to_fit() -> None:
    record = {"module": "a" * 120, "depth": 1, "forward_macs": 1}
    table = module_table([record], ["macs"], None, width=60)
    assert max(len(line) for line in table.text.splitlines()) <= 60
    assert table.text.splitlines()[2].lstrip().startswith("…")


def test_unknown_column_is_named() -> None:
    with pytest.raises(OpCountError, match="'flop'"):
        resolve_columns(["flop"])


def test_default_columns() -> None:
    assert default_columns(params=False, shapes=False, backward=False, recompute=False) == [
        "type",
        "macs",
        "flops",
        "share",
    ]
    assert default_columns(params=True, shapes=True, backward=True, recompute=True) == [
        "type",
        "input",
        "output",
        "kernel",
        "params",
        "macs",
        "flops",
        "backward_flops",
        "recompute_flops",
        "share",
    ]


def test_summary_and_notes() -> None:
    totals = {
        "phases": {
            "forward": {"macs": 4_089_184_256, "flops": 8_178_000_000},
            "backward": {"macs": 8_060_000_000, "flops": 16_121_000_000},
        },
        "macs": 12_149_184_256,
        "flops": 24_299_000_000,
        "ops": 727,
        "bytes_read": 681_780_000,
        "bytes_written": 405_320_000,
        "params": 25_557_032,
        "trainable_params": 25_557_032,
        "param_bytes": 102_228_128,
    }
    assert summary_lines(totals) == [
        "forward:  4.089 GMACs, 8.178 GFLOPs",
        "backward: 8.060 GMACs, 16.121 GFLOPs",
        "total:    12.149 GMACs, 24.299 GFLOPs",
        "727 aten op calls, 681.78 MB read, 405.32 MB written",
        "parameters: 25.56M (25,557,032, all trainable), 102.23 MB",
    ]
    one_phase = {**totals, "phases": {"forward": totals["phases"]["forward"]}}
    one_phase.update(params=550, trainable_params=500, param_bytes=2200)
    lines = summary_lines(one_phase)
    assert lines[0] == "forward: 4.089 GMACs, 8.178 GFLOPs"
    assert lines[-1] == "parameters: 550 (500 trainable), 2.20 KB"
    notes = note_lines(["kernel"], [(f"aten.op_number_{i}", i) for i in range(12)], ["x"], 60)
    assert notes[0].startswith("left out to fit 60 characters: kernel")
    assert all(len(line) <= 60 for note in notes for line in note.splitlines())
    assert notes[-1] == "tracking problem: x"
    assert render_report(["s"], "t", []) == "s\n\nt"


def test_html_escapes_and_indents() -> None:
    records = [{**RECORDS[0], "module_type": "<Net & co>"}, RECORDS[1]]
    text = render_html(["a < b"], records, ["type", "macs"], TOTALS, ["note"])
    assert "&lt;Net &amp; co&gt;" in text
    assert "a &lt; b" in text
    assert "padding-left:1.2em" in text  # encoder.0, one level below the root
    assert text.count("<tr>") == 4  # header, two modules, total


# -- golden tables of fixture models -----------------------------------------------------------


# How many free view ops (squeeze, unsqueeze, ...) a composite emits changes between torch
# versions, so the golden files leave the header's call count out; the tests check that number
# against the counter's rows instead.
CALL_COUNT = re.compile(r"^[\d,]+ aten op calls", flags=re.MULTILINE)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    text = CALL_COUNT.sub("N aten op calls", text)
    if os.environ.get("OPCOUNT_UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"no golden file {path}; create it with OPCOUNT_UPDATE_GOLDEN=1"
    assert text + "\n" == path.read_text(encoding="utf-8")


def header_call_count(text: str) -> int:
    match = CALL_COUNT.search(text)
    assert match is not None, text
    return int(match.group(0).split()[0].replace(",", ""))


def _counted(fn: Callable[[], object], model: torch.nn.Module) -> OpCounter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with OpCounter(model, costs=PINNED_COSTS) as counter:
            fn()
    return counter


def transformer_run() -> tuple[TinyTransformer, OpCounter]:
    """Forward and backward, the first block frozen, the gradient made before counting.

    The math attention backend is pinned: which fused CPU kernel torch picks for these shapes
    changes between torch versions, and with it the (correctly counted) FLOPs in the table.
    """
    model = TinyTransformer()
    model.blocks[0].requires_grad_(False)
    x = torch.randn(2, 5, 8)
    grad = torch.ones(2, 5, 4)
    with sdpa_kernel(SDPBackend.MATH):
        return model, _counted(lambda: model(x).backward(grad), model)


def two_tower_run() -> tuple[TwoTower, OpCounter]:
    """Forward only, no grad, two inputs and a keyword flag."""
    model = TwoTower()
    a, b = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)

    def run() -> None:
        with torch.no_grad():
            model(a, b, both=True)

    return model, _counted(run, model)


def _parent(name: str, listed: set[str]) -> str | None:
    """The closest enclosing listed path of ``name`` (the root ``""`` last), else None."""
    if not name or name.startswith("<"):
        return None
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:i]) in listed:
            return ".".join(parts[:i])
    return "" if "" in listed else None


def assert_rows_add_up(counter: OpCounter) -> None:
    """Every module's inclusive cost is its own plus its listed children's; the ``self_``
    columns and the top-level rows (root, ops outside it) add up to the run's totals."""
    frame = counter.by_module()
    rows = counter.to_dataframe()
    names = list(frame["module"])
    parents = {n: _parent(n, set(names)) for n in names}
    checks = [
        ("flops", None, "flops"),
        ("macs", None, "macs"),
        ("forward_flops", "forward", "flops"),
        ("backward_flops", "backward", "flops"),
        ("bytes_read", None, "bytes_read"),
    ]
    for metric, phase, column in checks:
        inclusive = dict(zip(names, frame[metric]))
        own = dict(zip(names, frame[f"self_{metric}"]))
        for name in names:
            children = sum(inclusive[c] for c in names if parents[c] == name)
            assert inclusive[name] == own[name] + children, (metric, name)
        selected = rows if phase is None else rows[rows["phase"] == phase]
        assert sum(own.values()) == int(selected[column].sum()), metric
    top = frame[frame["depth"] == 0]
    assert int(top["flops"].sum()) == counter.total_flops
    assert int(top["macs"].sum()) == counter.total_macs
    uncalled = int(counter.uncalled_modules()["params"].sum())  # leaves in these fixtures
    assert int(frame["self_params"].sum()) + uncalled == counter.num_params


def test_golden_transformer_forward_backward() -> None:
    model, counter = transformer_run()
    assert counter.by_phase().set_index("phase").loc["forward", "macs"] == model.forward_macs(2, 5)
    assert_rows_add_up(counter)
    check_golden("tiny_transformer", counter.table(depth=None))
    check_golden("tiny_transformer_wide", counter.table(depth=1, width=None))
    assert header_call_count(counter.table()) == len(counter.to_dataframe())
    assert str(counter) == counter.table()


def test_golden_two_tower_forward() -> None:
    model, counter = two_tower_run()
    assert counter.total_macs == model.forward_macs(2)
    assert_rows_add_up(counter)
    check_golden("two_tower", counter.table(depth=None))
    assert header_call_count(counter.table()) == len(counter.to_dataframe())
    check_golden(
        "two_tower_columns",
        counter.table(depth=1, columns=["input", "calls", "params", "total_macs", "bytes_read"]),
    )


def test_printed_footer_is_the_run_total() -> None:
    _, counter = two_tower_run()
    footer = counter.table(depth=0, columns=["total_macs"]).split("\n\n")[1].splitlines()[-1]
    assert footer.split() == ["total", *format_compact(counter.total_macs, "MACs").split()]


def test_every_line_fits_100_columns() -> None:
    for _, counter in (transformer_run(), two_tower_run()):
        for line in str(counter).splitlines():
            assert len(line) <= 100, line


def test_repr_html() -> None:
    _, counter = two_tower_run()
    text = counter._repr_html_()
    assert text.startswith('<div class="opcount">')
    assert "tower_a.0" in text
    assert "input shape" in text  # HTML keeps every column
    assert "nothing counted" in OpCounter()._repr_html_()
