"""User regions: ``opcount.region(name)`` labels the ops run inside it (the ``region`` column).

Entering or leaving a region appends one boundary, ``(seq of the next op, region path)``, to the
log of each counter that is counting; the dispatch mode does no work for regions at all, and the
rows take their region when the DataFrame is built. Each thread has its own region stack, and a
region sends boundaries only to the counters of its own thread (a counter counts the thread that
entered it), so two threads never label each other's ops; ops autograd runs on its own threads
during a ``backward()`` inside a region take that region, as they run while it is open.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sized
from types import TracebackType
from typing import Any, TypeVar

from .errors import OpCountError

__all__ = ["SEPARATOR", "RegionLog", "attach", "current", "detach", "region"]

SEPARATOR = "/"
"""Joins nested regions' names: ``region("train")`` around ``region("loss")`` -> ``train/loss``."""

_local = threading.local()  # .stack: this thread's open regions, outermost first
_logs: list[RegionLog] = []  # every counting counter's log, all threads'
_logs_lock = threading.Lock()  # counters of two threads attach and detach at once

_F = TypeVar("_F", bound=Callable[..., Any])


def _stack() -> list[str]:
    stack: list[str] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current() -> str:
    """The path of the regions open now on this thread, ``""`` outside every region."""
    return SEPARATOR.join(_stack())


class RegionLog:
    """One counter's region boundaries: ``marks[i] = (seq, path)`` says that ops from ``seq`` on
    ran in ``path`` (until the next mark). ``calls`` is the counter's per-op list, whose length
    is the seq of the next op."""

    __slots__ = ("_calls", "marks", "thread")

    def __init__(self, calls: Sized) -> None:
        self._calls = calls
        self.thread = threading.get_ident()  # the thread whose regions label this counter
        self.marks: list[tuple[int, str]] = [(0, current())]

    def mark(self, path: str) -> None:
        self.marks.append((len(self._calls), path))


def attach(log: RegionLog) -> None:
    """Send region boundaries to ``log`` from now on."""
    with _logs_lock:
        _logs.append(log)


def detach(log: RegionLog) -> None:
    """Stop sending boundaries to ``log`` (a no-op if it is not attached)."""
    with _logs_lock:
        for i, attached in enumerate(_logs):
            if attached is log:
                del _logs[i]
                return


def _changed() -> None:
    if _logs:
        path = current()
        thread = threading.get_ident()
        for log in tuple(_logs):  # a copy: another thread may attach meanwhile
            if log.thread == thread:
                log.mark(path)


class region:  # noqa: N801 (a context manager named like the function users call)
    """Label every op run inside it, forward, backward or optimizer, with ``name``.

    >>> with OpCounter() as c, opcount.region("prefill"):    # doctest: +SKIP
    ...     model(ids)
    >>> c.by_region()                                        # doctest: +SKIP

    Also a decorator: ``@opcount.region("loss")``. Nested regions are joined with ``"/"``.
    Costs nothing per op: entering and leaving record one boundary each.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name or SEPARATOR in name:
            raise OpCountError(
                f"region name {name!r}: must be a non-empty string without {SEPARATOR!r} "
                "(nested regions are joined with it)"
            )
        self.name = name

    def __enter__(self) -> region:
        _stack().append(self.name)
        _changed()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # the innermost open region of this name: regions left out of order (a generator
        # suspended inside one) still close the right entry
        stack = _stack()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] == self.name:
                del stack[i]
                break
        _changed()

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
