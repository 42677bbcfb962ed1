"""The benchmark runner still runs: its quickest family in quick mode, no timing asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_runner_quick_per_op_writes_markdown(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "per_op", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "opcount: added per op" in done.stdout
    assert "opcount, no reuse: added per op" in done.stdout
    assert "recording floor added / FlopCounterMode added" in done.stdout
    text = output.read_text(encoding="utf-8")
    assert "| family | measurement | value | unit | vs plain | target | met |" in text
    assert "torch " in text  # the machine line names the torch version
    rows = [line for line in text.splitlines() if line.startswith("| per_op |")]
    assert len(rows) == 10  # plain, 5 variants, 2 target ratios, 2 floor ratios
