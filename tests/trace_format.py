"""A strict reader of the Trace Event Format's JSON Object Format, written from the format's
documentation ("Trace Event Format", the document chrome://tracing and Perfetto's JSON importer
follow). Perfetto's Python ``trace_processor`` cannot run here (it downloads its shell binary at
run time, and this machine reaches no host but package registries), so the tests read traces
with this instead.

What it enforces, with the document's rules:

- the file is JSON (no NaN or Infinity: JSON has none) holding an object with a
  ``traceEvents`` array; ``displayTimeUnit``, if present, is ``"ms"`` or ``"ns"``;
  ``otherData``, if present, is an object;
- every event is an object with a one-character ``ph`` of the phases the document lists;
  ``pid`` and ``tid`` are integers; ``args``, if present, is an object;
- complete events (``"X"``): a string ``name``, a string ``cat``, numeric ``ts`` and ``dur``
  in microseconds, both non-negative;
- metadata events (``"M"``): ``name`` one of ``process_name``, ``process_labels``,
  ``process_sort_index``, ``thread_name``, ``thread_sort_index``, with the argument each takes
  (``name``, ``labels`` or ``sort_index``);
- complete events on one thread nest: two slices either do not overlap or one holds the other
  (the document draws slices of a thread as a stack; Perfetto's importer drops slices that
  overlap partially). Like Perfetto's importer, it compares times as whole nanoseconds
  (``round(microseconds * 1000)``), not as sums of floats.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PHASES = frozenset("BEXiIbneSTpFsftPNODMVvRc(),")
"""Every ``ph`` the document defines (duration, complete, instant, counter, async, flow,
sample, object, metadata, memory dump, mark, clock sync, context events)."""

_METADATA_ARGS = {
    "process_name": "name",
    "process_labels": "labels",
    "process_sort_index": "sort_index",
    "thread_name": "name",
    "thread_sort_index": "sort_index",
}


def _refuse_constant(name: str) -> Any:
    raise AssertionError(f"not JSON: {name} appears in the trace")


def load(path: Path) -> dict[str, Any]:
    """Parse a trace file strictly and check it; return the document."""
    document = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    check(document)
    return document


def _number(event: Mapping[str, Any], key: str) -> float:
    value = event.get(key)
    assert isinstance(value, (int, float)), (key, event)
    assert not isinstance(value, bool), (key, event)
    assert math.isfinite(value), (key, event)
    assert value >= 0, (key, event)
    return float(value)


def check(document: Any) -> None:
    """Raise AssertionError naming the first rule ``document`` breaks."""
    assert isinstance(document, dict), "a JSON Object Format trace is an object"
    events = document.get("traceEvents")
    assert isinstance(events, list), "traceEvents must be an array"
    if "displayTimeUnit" in document:
        assert document["displayTimeUnit"] in ("ms", "ns"), document["displayTimeUnit"]
    if "otherData" in document:
        assert isinstance(document["otherData"], dict), "otherData must be an object"
    slices: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    for index, event in enumerate(events):
        assert isinstance(event, dict), f"event {index} is not an object"
        ph = event.get("ph")
        assert isinstance(ph, str), f"event {index}: bad ph {ph!r}"
        assert ph in PHASES, f"event {index}: bad ph {ph!r}"
        for key in ("pid", "tid"):
            value = event.get(key)
            assert isinstance(value, int), (index, key, value)
            assert not isinstance(value, bool), (index, key, value)
        if "args" in event:
            assert isinstance(event["args"], dict), f"event {index}: args must be an object"
        if ph == "X":
            assert isinstance(event.get("name"), str), f"event {index}: name"
            assert isinstance(event.get("cat"), str), f"event {index}: cat"
            ts, dur = round(_number(event, "ts") * 1000), round(_number(event, "dur") * 1000)
            slices.setdefault((event["pid"], event["tid"]), []).append((ts, ts + dur, index))
        elif ph == "M":
            arg = _METADATA_ARGS.get(event.get("name", ""))
            assert arg is not None, f"event {index}: unknown metadata {event.get('name')!r}"
            assert arg in event.get("args", {}), f"event {index}: {event['name']} needs {arg}"
    for track, spans in slices.items():
        # a parent starts no later than its children and, at an equal start, is the longer one
        # (or was written first, for slices of equal extent)
        spans.sort(key=lambda s: (s[0], -s[1], s[2]))
        stack: list[tuple[int, int, int]] = []
        for start, end, index in spans:
            while stack and stack[-1][1] <= start and not (stack[-1][0] == start == end):
                stack.pop()
            if stack:
                assert end <= stack[-1][1], (
                    f"track {track}: event {index} [{start}, {end}] overlaps event "
                    f"{stack[-1][2]} [{stack[-1][0]}, {stack[-1][1]}] without nesting"
                )
            stack.append((start, end, index))
