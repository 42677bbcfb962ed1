"""One self-contained HTML page: the template with its style, script and data inlined.

The payload goes into a ``<script type="application/json">`` tag (``<`` escaped, so no text in
it can close the tag); the page fetches nothing, so it works from ``file://`` and offline.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

DATA_ID = "opcount-data"
"""``id`` of the script tag that holds the payload (tests read it back)."""


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def payload_json(payload: Mapping[str, Any]) -> str:
    """The payload as JSON safe inside a script tag: every ``<`` written as ``\\u003c``."""
    text = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_page(payload: Mapping[str, Any]) -> str:
    """The whole page for a run or sweep payload (see :mod:`.data`)."""
    page = _asset("template.html")
    parts = {
        "title": html.escape(str(payload.get("title", "opcount report"))),
        "style": _asset("report.css"),
        "data_id": DATA_ID,
        "data": payload_json(payload),
        "script": _asset("report.js"),
    }
    # one pass over the template: inserted text (the data, the script) is never re-scanned
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], page)


def iframe(page: str, height: int = 720) -> str:
    """``page`` inside an ``<iframe srcdoc>``, for a notebook's ``IPython.display.HTML``:
    the report's style and script stay out of the notebook's own page."""
    return (
        f'<iframe srcdoc="{html.escape(page, quote=True)}" '
        f'style="width:100%;height:{int(height)}px;border:1px solid #ddd"></iframe>'
    )
