"""The optimizer phase: which ops run inside an optimizer's step or zero_grad, an LR scheduler's
step or a GradScaler's unscale_/step/update.

``Optimizer.step`` of every optimizer (torch's and user subclasses, for-loop, foreach or fused)
is caught by torch's global step hooks. ``zero_grad``, schedulers and GradScaler have no global
hooks, so while a counter runs their methods are wrapped on the classes that define them (never
on the user's objects), and the classes get their own functions back on exit, also when the
user's code raised.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim import optimizer as optimizer_module
from torch.utils.hooks import RemovableHandle

from .tracker import ModuleTracker

__all__ = ["OptimizerPhase"]


def _scheduler_classes() -> list[type]:
    from torch.optim import lr_scheduler

    base = getattr(lr_scheduler, "LRScheduler", None) or lr_scheduler._LRScheduler
    # ReduceLROnPlateau derives from LRScheduler since torch 2.2, from object before
    return [base, lr_scheduler.ReduceLROnPlateau]


def _scaler_classes() -> list[type]:
    import torch

    amp_scaler = getattr(getattr(torch, "amp", None), "GradScaler", None)
    if amp_scaler is not None:
        return [amp_scaler]
    return [torch.cuda.amp.GradScaler]  # torch before 2.3: the CUDA scaler is the base


def _subclasses(base: type) -> list[type]:
    """``base`` and every subclass of it defined so far, each once."""
    found: list[type] = []
    pending = [base]
    while pending:
        cls = pending.pop()
        if cls not in found:
            found.append(cls)
            pending.extend(cls.__subclasses__())
    return found


def _optimizer_of_scheduler(scheduler: Any, *args: Any, **kwargs: Any) -> Any:
    return getattr(scheduler, "optimizer", scheduler)


def _optimizer_argument(scaler: Any, optimizer: Any = None, *args: Any, **kwargs: Any) -> Any:
    return optimizer if optimizer is not None else kwargs.get("optimizer", scaler)


def _itself(owner: Any, *args: Any, **kwargs: Any) -> Any:
    return owner


# (classes, method, which object the call works for): zero_grad on the optimizer itself, a
# scheduler for its optimizer, GradScaler.unscale_/step for the optimizer passed, and
# GradScaler.update for the scaler (it knows no optimizer)
_WRAPPED: tuple[tuple[Callable[[], list[type]], str, Callable[..., Any]], ...] = (
    (lambda: [Optimizer], "zero_grad", _itself),
    (_scheduler_classes, "step", _optimizer_of_scheduler),
    (_scaler_classes, "unscale_", _optimizer_argument),
    (_scaler_classes, "step", _optimizer_argument),
    (_scaler_classes, "update", _itself),
)


# The wrappers are process-wide: installed when the first counter attaches, removed when the
# last detaches, and each call enters every attached tracker (a tracker ignores the calls of
# threads it does not count). Two counters in two threads therefore never wrap each other's
# wrappers, and the classes always get their own functions back.
_lock = threading.Lock()
_trackers: list[ModuleTracker] = []
_restore: list[tuple[type, str, Any]] = []


def _wrap(original: Callable[..., Any], owner_of: Callable[..., Any]) -> Any:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        trackers = tuple(_trackers)
        if not trackers:
            return original(*args, **kwargs)
        owner = owner_of(*args, **kwargs)
        name = type(owner).__name__
        depths = [tracker.enter_optimizer(owner, name) for tracker in trackers]
        try:
            return original(*args, **kwargs)
        finally:  # also pops a step inside that raised before its post-hook
            for tracker, depth in zip(trackers, depths):
                tracker.exit_optimizer(owner, depth)

    return wrapper


def _install() -> None:
    try:
        for classes, name, owner_of in _WRAPPED:
            for base in classes():
                for cls in _subclasses(base):
                    original = cls.__dict__.get(name)
                    if original is None or not callable(original):
                        continue  # inherited: the defining class's wrapper catches it
                    _restore.append((cls, name, original))
                    setattr(cls, name, _wrap(original, owner_of))
    except BaseException:
        _uninstall()
        raise


def _uninstall() -> None:
    while _restore:
        cls, name, original = _restore.pop()
        setattr(cls, name, original)


class OptimizerPhase:
    """Puts the ops of optimizer calls into the tracker's optimizer frames while attached."""

    def __init__(self, tracker: ModuleTracker) -> None:
        self.tracker = tracker
        self._handles: list[RemovableHandle] = []

    def attach(self) -> None:
        """Install the global step hooks and wrap the methods without hooks."""
        tracker = self.tracker

        def pre_hook(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
            tracker.enter_optimizer(optimizer, type(optimizer).__name__)

        def post_hook(optimizer: Optimizer, args: Any, kwargs: Any) -> None:
            tracker.exit_optimizer(optimizer)

        self._handles.append(optimizer_module.register_optimizer_step_pre_hook(pre_hook))
        self._handles.append(optimizer_module.register_optimizer_step_post_hook(post_hook))
        try:
            with _lock:
                if not _trackers:
                    _install()
                _trackers.append(tracker)
        except BaseException:
            self.detach()
            raise

    def detach(self) -> None:
        """Remove the hooks; the last counter to detach gives every wrapped class its own
        method back."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        with _lock:
            if self.tracker in _trackers:
                _trackers.remove(self.tracker)
            if not _trackers:
                _uninstall()
