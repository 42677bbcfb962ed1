"""The library's one exception type and its subclasses.

Every error opcount raises on purpose derives from :class:`OpCountError`, so callers can catch
the library's errors without catching the user's own.
"""

from __future__ import annotations


class OpCountError(Exception):
    """Base class of every error opcount raises on purpose."""


class UnsupportedOpError(OpCountError):
    """Raised by ``OpCounter(strict=True)`` when a run reached ops that have no formula."""
