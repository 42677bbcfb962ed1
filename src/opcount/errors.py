"""The library's one exception type and its subclasses, and the option checks that raise it.

Every error opcount raises on purpose derives from :class:`OpCountError`, so callers can catch
the library's errors without catching the user's own.
"""

from __future__ import annotations


class OpCountError(Exception):
    """Base class of every error opcount raises on purpose."""


class UnsupportedOpError(OpCountError):
    """Raised by ``OpCounter(strict=True)`` when a run reached ops that have no formula."""


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool, else an :class:`OpCountError` naming the option and value
    (a truthy string such as ``"no"`` would otherwise quietly mean True)."""
    if not isinstance(value, bool):
        raise OpCountError(f"{name} must be True or False, got {value!r}")
    return value


def check_count(name: str, value: object, *, minimum: int = 0, none: bool = False) -> int | None:
    """``value`` if it is an int of at least ``minimum`` (or None where ``none``), else an
    :class:`OpCountError` naming the option and value; a bool is not a count."""
    if value is None and none:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        allowed = f"an int >= {minimum}" + (" or None" if none else "")
        raise OpCountError(f"{name} must be {allowed}, got {value!r}")
    return value
