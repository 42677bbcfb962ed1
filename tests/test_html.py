"""The HTML report: its embedded data against the counter, and the page in a real headless
Chromium (no console error, the run's names and totals in the DOM, hover, zoom, sorting, a
screenshot that is not blank, no network); a 48-layer model's page is small and opens fast."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from torch import nn

from opcount import OpCounter, OpCountError
from opcount.reports.format import format_count
from opcount.reports.html import iframe, render_page, run_page, sweep_page
from opcount.reports.html.data import _seconds
from opcount.reports.html.page import DATA_ID

sys.path.insert(0, str(Path(__file__).parent))
from browser import Browser, find_chromium

CHROMIUM = find_chromium()
NO_BROWSER = "no Chromium found (apt-get install chromium, or set OPCOUNT_CHROMIUM to a browser)"
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason=NO_BROWSER)
DATA = Path(__file__).parent / "data"


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        x = x + self.proj(torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v)
        return x + self.mlp(x)


class Tiny(nn.Module):
    def __init__(self, layers: int = 2, width: int = 16) -> None:
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.blocks = nn.ModuleList(Block(width) for _ in range(layers))
        self.head = nn.Linear(width, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def counted(layers: int = 2, width: int = 16, backward: bool = True) -> tuple[OpCounter, nn.Module]:
    torch.manual_seed(0)
    model = Tiny(layers, width)
    with torch.set_grad_enabled(backward), OpCounter(model) as c:
        loss = model(torch.randn(2, 5, 8)).sum()
        if backward:
            loss.backward()
    return c, model


def embedded(page: str) -> dict[str, Any]:
    """The page's data, read back from its JSON script tag."""
    found = re.search(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', page, re.S)
    assert found, "no embedded data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.fixture(scope="module")
def run() -> tuple[OpCounter, nn.Module]:
    return counted()


@pytest.fixture(scope="module")
def report(run: tuple[OpCounter, nn.Module], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    run[0].to_html(path)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip(NO_BROWSER)
    with Browser(CHROMIUM) as b:
        yield b


# -- the data, without a browser ----------------------------------------------------------------


def own_sums(data: dict[str, Any], measure: str, phases: list[str]) -> int:
    return sum(sum(data["tree"]["self"][p][measure]) for p in phases)


def test_embedded_totals_equal_the_counter(run: tuple[OpCounter, nn.Module], report: Path) -> None:
    c, _model = run
    data = embedded(report.read_text(encoding="utf-8"))
    rows = c.to_dataframe()
    totals = data["totals"]
    assert totals["macs"] == c.total_macs
    assert totals["flops"] == c.total_flops
    assert totals["bytes_read"] == int(rows["bytes_read"].sum())
    assert totals["bytes_written"] == int(rows["bytes_written"].sum())
    assert totals["params"] == c.num_params
    assert totals["ops"] == len(rows)
    assert data["complete"] is True
    assert data["unsupported"] == []
    assert data["phases"] == ["forward", "backward"]
    # every figure once: the tree's own figures, the op table and the categories add up
    for measure in ("flops", "macs", "bytes_read", "bytes_written"):
        assert own_sums(data, measure, data["phases"]) == totals[measure]
        assert sum(op[measure] for op in data["ops"]) == totals[measure]
        assert sum(cat[measure] for cat in data["categories"]) == totals[measure]
    by_phase = c.by_phase().set_index("phase")
    for phase in data["phases"]:
        assert own_sums(data, "flops", [phase]) == by_phase.loc[phase, "flops"]
    assert sum(data["tree"]["self_params"]) == c.num_params
    assert [op["op"] for op in data["ops"]] == list(c.by_op()["op"])
    assert data["inputs"] == "2x5x8"
    assert data["roofline"] is None  # no time column in these rows


def test_tree_follows_the_call_paths(run: tuple[OpCounter, nn.Module], report: Path) -> None:
    nodes = embedded(report.read_text(encoding="utf-8"))["tree"]["nodes"]
    names = [n["name"] for n in nodes]
    # the loss's sum ran outside the model: the tree's root is the run, holding both
    assert names[0] == "(run)"
    assert nodes[0]["parent"] == -1
    assert {n["name"] for n in nodes if n["parent"] == 0} == {"", "<outside>"}
    # the ModuleList never runs but holds the blocks: a node of its own, after embed
    assert names[1:5] == ["", "embed", "blocks", "blocks.0"]
    assert nodes[names.index("blocks")]["type"] == "ModuleList"
    assert nodes[names.index("blocks.1.mlp.0")]["parent"] == names.index("blocks.1.mlp")
    assert set(names) >= {str(m) for m in run[0].by_module()["module"]}


def test_no_http_reference_in_the_file(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "http://" not in page
    assert "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", page), "a fetched resource"


def test_unsupported_ops_are_listed() -> None:
    x, n = torch.empty(4, device="meta"), torch.empty(4, device="meta")
    with OpCounter(warn=False) as c:  # on meta the degrees are unknown: no formula applies
        torch.special.legendre_polynomial_p(x, n)
    data = embedded(str(c.to_html()))
    assert data["complete"] is False
    assert [u["op"] for u in data["unsupported"]] == ["aten.special_legendre_polynomial_p"]
    assert data["tree"]["nodes"][0]["name"] == "(run)"  # ops outside every module


def test_a_closing_tag_in_a_name_cannot_end_the_data() -> None:
    page = render_page({"kind": "run", "title": "</script><b>x", "note": "</script>"})
    assert page.count("</script>") == 2  # the data tag's and the script's own
    assert embedded(page)["note"] == "</script>"
    assert "<title>&lt;/script&gt;&lt;b&gt;x</title>" in page


def test_bad_arguments_name_the_value(run: tuple[OpCounter, nn.Module], tmp_path: Path) -> None:
    with pytest.raises(OpCountError, match="peak_flops=-1"):
        run[0].to_html(peak_flops=-1, bandwidth=1e9)
    with pytest.raises(OpCountError, match="both"):
        run[0].to_html(peak_flops=1e12)
    with pytest.raises(OpCountError, match="no_such_dir"):
        run[0].to_html(tmp_path / "no_such_dir" / "r.html")


def roofline_rows(c: OpCounter, peak: float, bandwidth: float) -> pd.DataFrame:
    """The rows with an ``est_time_s`` column as a roofline estimate gives it:
    max(FLOPs / peak, bytes / bandwidth)."""
    rows = c.to_dataframe()
    moved = rows["bytes_read"] + rows["bytes_written"]
    return rows.assign(
        est_time_s=[max(f / peak, b / bandwidth) for f, b in zip(rows["flops"], moved)]
    )


def test_time_columns_become_measures_and_a_roofline(run: tuple[OpCounter, nn.Module]) -> None:
    c, model = run
    # 0.1 FLOPs per byte at the ridge: the matmuls are bound by compute, the adds by memory
    rows = roofline_rows(c, 1e12, 1e13)
    data = embedded(run_page(rows, c._totals(), model=model))
    assert "est_time_s" in data["measures"]
    assert own_sums(data, "est_time_s", data["phases"]) == pytest.approx(rows["est_time_s"].sum())
    roof = data["roofline"]
    assert roof["roof_source"] == "envelope of the calls"
    # an op bound by compute reaches the peak, one bound by memory the bandwidth
    assert roof["peak_flops"] == pytest.approx(1e12, rel=1e-12)
    assert roof["bandwidth"] == pytest.approx(1e13, rel=1e-12)
    timed = {op["op"] for op in data["ops"] if op["flops"] > 0}
    assert {p["op"] for p in roof["points"]} == timed
    given = embedded(run_page(rows, c._totals(), peak_flops=2e12, bandwidth=3e11))["roofline"]
    assert (given["peak_flops"], given["bandwidth"], given["roof_source"]) == (2e12, 3e11, "device")


def test_a_device_gives_the_roofline_its_estimate_and_roofs(
    run: tuple[OpCounter, nn.Module],
) -> None:
    c, _ = run
    data = embedded(c.to_html(device="h100-sxm"))
    roof = data["roofline"]
    # float32 matmuls: the H100 SXM's FP32 peak (TF32 off), and its 3.35 TB/s
    assert (roof["peak_flops"], roof["bandwidth"], roof["roof_source"]) == (
        67e12,
        3.35e12,
        "device",
    )
    assert "est_time_s" in data["measures"]
    estimate = c.roofline("h100-sxm")["est_time_s"]
    assert own_sums(data, "est_time_s", data["phases"]) == pytest.approx(estimate.sum())
    given = embedded(c.to_html(device="h100-sxm", peak_flops=1e12))["roofline"]
    assert given["peak_flops"] == 1e12


# -- in the browser -----------------------------------------------------------------------------


def not_blank(png: bytes) -> int:
    """Distinct colours in a screenshot (a blank page has one)."""
    image = pytest.importorskip("PIL.Image").open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 24) or [])


@needs_browser
def test_page_opens_with_the_run_in_it(
    browser: Browser, run: tuple[OpCounter, nn.Module], report: Path
) -> None:
    c, _ = run
    browser.open(report)
    assert browser.evaluate("document.documentElement.dataset.ready") == "true"
    assert browser.problems() == []
    assert browser.requests() == [report.resolve().as_uri()]  # the file itself, nothing else
    text = browser.evaluate("document.body.innerText")
    assert format_count(c.total_macs) in text
    assert format_count(c.total_flops) in text
    assert format_count(c.num_params) in text
    assert "complete" in browser.evaluate("document.getElementById('completeness').innerText")
    drawn = set(
        browser.evaluate("[...document.querySelectorAll('#icicle g')].map(g => g.dataset.name)")
    )
    assert {"", "embed", "blocks.0.qkv", "blocks.1.mlp.2", "head"} <= drawn
    parsed = browser.evaluate(
        f"JSON.parse(document.getElementById('{DATA_ID}').textContent).totals"
    )
    assert (parsed["macs"], parsed["flops"]) == (c.total_macs, c.total_flops)
    assert not_blank(browser.screenshot()) > 20


def tooltip_figures(browser: Browser) -> dict[str, tuple[float, float]]:
    """The tooltip's table: measure label -> (inclusive, self), from its cells' raw values."""
    cells = browser.evaluate(
        "[...document.querySelectorAll('#tooltip tr[data-measure]')].map(r =>"
        " [r.dataset.measure, Number(r.cells[1].dataset.value), Number(r.cells[2].dataset.value)])"
    )
    return {m: (inclusive, own) for m, inclusive, own in cells}


@needs_browser
def test_hover_shows_inclusive_and_self_per_phase(
    browser: Browser, run: tuple[OpCounter, nn.Module], report: Path
) -> None:
    c, _ = run
    browser.open(report)
    modules = c.by_module().set_index("module")
    browser.hover('#icicle g[data-name="blocks.0.mlp"] rect')
    assert browser.evaluate("document.getElementById('tooltip').hidden") is False
    assert "blocks.0.mlp" in browser.evaluate("document.getElementById('tooltip').innerText")
    figures = tooltip_figures(browser)
    row = modules.loc["blocks.0.mlp"]
    assert figures["flops"] == (row["flops"], row["self_flops"])
    assert figures["macs"] == (row["macs"], row["self_macs"])
    assert figures["params"] == (row["params"], 0)  # the Sequential holds none of its own
    browser.evaluate(
        "(() => { const s = document.getElementById('phase'); s.value = 'backward';"
        " s.dispatchEvent(new Event('change')); })()"
    )
    browser.hover('#icicle g[data-name="blocks.0.qkv"] rect')
    row = modules.loc["blocks.0.qkv"]
    figures = tooltip_figures(browser)
    assert figures["flops"] == (row["backward_flops"], row["self_backward_flops"])
    assert browser.problems() == []


@needs_browser
def test_click_zooms_in_and_out(browser: Browser, report: Path) -> None:
    browser.open(report)
    width = "document.querySelector('#icicle g[data-name=\"blocks.1\"] rect').getAttribute('width')"
    assert float(browser.evaluate(width)) < 1000
    browser.click('#icicle g[data-name="blocks.1"] rect')
    assert float(browser.evaluate(width)) == pytest.approx(1000, abs=0.5)  # the whole width
    assert browser.evaluate("document.querySelector('#icicle g[data-name=\"embed\"]')") is None
    assert browser.evaluate("document.getElementById('crumbs').innerText").endswith("1")
    browser.click('#icicle g[data-name="blocks.1"] rect')  # the zoomed one: one level up
    assert (
        browser.evaluate("document.querySelector('#icicle g[data-name=\"blocks.0\"]')") is not None
    )
    assert browser.problems() == []


@needs_browser
def test_op_table_sorts_by_a_clicked_column(
    browser: Browser, run: tuple[OpCounter, nn.Module], report: Path
) -> None:
    browser.open(report)
    column = "[...document.querySelectorAll('#op-table tbody tr')].map(r => r.cells[{}].innerText)"
    by_op = run[0].by_op()
    assert browser.evaluate(column.format(0)) == list(by_op["op"])  # most FLOPs first
    browser.click('#op-table th[data-key="calls"]')
    calls = [int(v.replace(",", "")) for v in browser.evaluate(column.format(3))]
    assert calls == sorted(by_op["calls"], reverse=True)
    browser.click('#op-table th[data-key="calls"]')
    calls = [int(v.replace(",", "")) for v in browser.evaluate(column.format(3))]
    assert calls == sorted(by_op["calls"])
    categories = browser.evaluate(
        "[...document.querySelectorAll('#category-table tbody tr')].map(r => r.cells[0].innerText)"
    )
    assert categories == list(run[0].by_category()["category"])


@needs_browser
def test_roofline_chart_is_drawn(
    browser: Browser, run: tuple[OpCounter, nn.Module], tmp_path: Path
) -> None:
    c, model = run
    path = tmp_path / "roof.html"
    path.write_text(run_page(roofline_rows(c, 1e12, 1e11), c._totals(), model=model), "utf-8")
    browser.open(path)
    assert browser.problems() == []
    points = browser.evaluate("document.querySelectorAll('#roofline circle.point').length")
    assert points == len(embedded(path.read_text("utf-8"))["roofline"]["points"]) > 0
    assert browser.evaluate("document.querySelector('#roofline #roof') !== null") is True


@needs_browser
def test_large_model_page_is_small_and_opens_fast(browser: Browser, tmp_path: Path) -> None:
    c, _ = counted(layers=48, backward=False)  # the page's size goes with the modules
    path = tmp_path / "large.html"
    c.to_html(path)
    assert path.stat().st_size < 10_000_000
    browser.open(path)
    assert browser.problems() == []
    # the page's own clock: navigation start to the end of drawing, and to the load event
    drawn_ms = float(browser.evaluate("document.documentElement.dataset.renderMs"))
    loaded_ms = browser.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    assert drawn_ms < 5000, drawn_ms
    assert loaded_ms < 5000, loaded_ms
    drawn = browser.evaluate(
        "document.querySelectorAll('#icicle g[data-name^=\"blocks.47\"]').length"
    )
    assert drawn > 0


def test_cli_html_for_one_model_and_a_sweep(tmp_path: Path) -> None:
    models = f"{DATA / 'cli_models.py'}"
    one, many = tmp_path / "one.html", tmp_path / "sweep.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opcount",
            f"{models}:tiny_decoder",
            "--backward",
            "--html",
            str(one),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote the HTML report to {one}" in result.stderr
    data = embedded(one.read_text("utf-8"))
    assert data["phases"] == ["forward", "backward"]
    assert "tiny_decoder" in data["title"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opcount",
            f"{models}:tiny_decoder",
            f"{models}:broken",
            "--html",
            str(many),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr  # one model failed: a row, not an abort
    sweep = embedded(many.read_text("utf-8"))
    assert [m["model"] for m in sweep["models"]] == [f"{models}:tiny_decoder", f"{models}:broken"]
    assert sweep["models"][0]["forward_macs"] == data["totals"]["phases"]["forward"]["macs"]
    assert sweep["models"][1]["error"]


SWEEP = [
    {"model": "a", "params": 10, "forward_macs": 5, "forward_flops": 11, "error": ""},
    {"model": "b", "params": 3, "forward_macs": 7, "forward_flops": 15, "error": ""},
    {"model": "c", "published_gmacs": float("nan"), "error": "boom"},
]


@needs_browser
def test_sweep_page_in_the_browser(browser: Browser, tmp_path: Path) -> None:
    path = tmp_path / "sweep.html"
    path.write_text(sweep_page(SWEEP), "utf-8")
    browser.open(path)
    assert browser.problems() == []
    bars = browser.evaluate(
        "[...document.querySelectorAll('#sweep-bars g')].map(g => g.dataset.name)"
    )
    assert bars == ["b", "a"]  # most forward MACs first; the failed model has no bar
    table = browser.evaluate("document.getElementById('model-table').innerText")
    assert "boom" in table


def test_sweep_page_compares_models() -> None:
    data = embedded(sweep_page(SWEEP))
    assert data["kind"] == "sweep"
    assert data["models"][2]["published_gmacs"] is None
    assert data["measures"] == ["forward_macs", "forward_flops", "params"]


@needs_browser
def test_notebook_iframe_draws_the_report(
    browser: Browser, run: tuple[OpCounter, nn.Module], tmp_path: Path
) -> None:
    # what a notebook displays: the page inside <iframe srcdoc>, its script run in there
    path = tmp_path / "cell.html"
    path.write_text(f"<!DOCTYPE html><body>{iframe(str(run[0].to_html()))}</body>", "utf-8")
    browser.open(path)
    assert browser.problems() == []
    inner = "document.querySelector('iframe').contentDocument"
    assert browser.evaluate(f"{inner}.documentElement.dataset.ready") == "true"
    assert format_count(run[0].total_macs) in browser.evaluate(f"{inner}.body.innerText")


def test_header_time_in_readable_units() -> None:
    assert _seconds(8.3e-05) == "83 µs"
    assert _seconds(0.0123) == "12.3 ms"
    assert _seconds(2.5) == "2.5 s"
    assert _seconds(0.0) == "0 s"


@needs_browser
def test_pages_of_edge_runs_open_without_errors(
    browser: Browser, run: tuple[OpCounter, nn.Module], tmp_path: Path
) -> None:
    with OpCounter() as empty:
        pass
    c, model = run
    # untimed rows (NaN), a phase the tracker may add later, a comm column of zeros
    rows = c.to_dataframe()
    rows = rows.assign(
        time_s=[1e-6 if i % 3 == 0 else float("nan") for i in range(len(rows))],
        comm_bytes=0,
    )
    rows.loc[rows.index[-5:], "phase"] = "optimizer"
    pages = {"empty": str(empty.to_html()), "timed": run_page(rows, c._totals(), model=model)}
    timed = embedded(pages["timed"])
    assert timed["phases"] == ["forward", "backward", "optimizer"]
    assert timed["totals"]["time_s"] == pytest.approx(1e-6 * len(range(0, len(rows), 3)))
    for name, page in pages.items():
        path = tmp_path / f"{name}.html"
        path.write_text(page, "utf-8")
        browser.open(path)
        for select, value in (("phase", "optimizer"), ("measure", "time_s")):
            browser.evaluate(
                f"(() => {{ const s = document.getElementById('{select}');"
                f" if (![...s.options].some(o => o.value === '{value}')) return;"
                f" s.value = '{value}'; s.dispatchEvent(new Event('change')); }})()"
            )
        assert browser.problems() == [], name
    assert browser.evaluate("document.querySelectorAll('#roofline circle.point').length") > 0
