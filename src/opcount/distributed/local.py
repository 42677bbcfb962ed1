"""The rank's own work: a dispatch mode above the counting mode, active in distributed runs.

DTensor ops reach a mode with their *global* shapes, before DTensor turns them into local ops.
This mode answers ``NotImplemented`` to them, so DTensor's own handler runs, redistributes and
issues the local ops on the shards, which come back through this mode to the counter: each
local op once. DTensor's sharding propagation runs ops on fake tensors (global shapes) on a cache
miss, under a fake mode of its own; those go past the counter. Collectives are attributed to
the module whose parameters they move: FSDP2's (labelled by ``record_function`` with the
module's name) to that module, a backward collective outside FSDP2 (DDP's bucket all-reduces)
to the root module.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch._ops import OpOverload
from torch.utils._python_dispatch import TorchDispatchMode, _pop_mode_temporarily

from ..engine.mode import CountingMode
from ..engine.tracker import FORWARD, graph_task_id

_COMM_NAMESPACES = frozenset({"c10d", "_c10d_functional", "_c10d_functional_autograd"})
_FAKE_KEY = torch._C._TorchDispatchModeKey.FAKE
_FSDP_LABEL = "FSDP::"


def _fake_mode_active() -> bool:
    return torch._C._get_dispatch_mode(_FAKE_KEY) is not None


def _dtensor_type() -> type | None:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # torch built without distributed
        return None
    return DTensor


class RankMode(TorchDispatchMode):
    """Sits above a :class:`~opcount.engine.mode.CountingMode`; see the module docstring."""

    def __init__(self, counting: CountingMode) -> None:
        super().__init__()
        self.counting = counting
        self.tracker = counting.tracker
        self._dtensor = _dtensor_type()
        self._fake_at_start = _fake_mode_active()  # a user's own fake run is counted as usual
        self._kind: dict[int, int] = {}  # id(func) -> 0 plain, 1 collective, 2 record_function
        self._labels: list[tuple[Any, str]] = []  # open record_function ranges (handle, name)
        self.meta_warned = False

    def __torch_dispatch__(
        self,
        func: OpOverload,
        types: Sequence[type],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        if types and self._dtensor is not None:
            for kind in types:
                if issubclass(kind, self._dtensor):
                    return NotImplemented  # DTensor runs it as local ops, which come back here
        if not self._fake_at_start and _fake_mode_active():
            # DTensor's sharding propagation: fake global tensors made and run under a fake
            # mode of its own; not this rank's work, so past the counter, uncounted
            with _pop_mode_temporarily():
                return func(*args, **kwargs)
        handling = self._kind.get(id(func))
        if handling is None:
            handling = self._kind[id(func)] = _kind_of(func)
        if handling == 0:
            return func(*args, **kwargs)
        if handling == 2:
            return self._label(func, args, kwargs)
        return self._collective(func, args, kwargs)

    def _label(self, func: OpOverload, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """Keep the open ``record_function`` ranges: FSDP2 names its module in them."""
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        if name.startswith("_record_function_enter"):
            self._labels.append((out, str(args[0]) if args else ""))
        elif self._labels:
            handle = args[0] if args else None
            for index in range(len(self._labels) - 1, -1, -1):
                if self._labels[index][0] is handle:
                    del self._labels[index:]
                    break
        return out

    def _collective(self, func: OpOverload, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if not self.meta_warned and _on_meta(args):
            self.meta_warned = True
            warnings.warn(
                f"{func} ran on meta tensors: collectives cannot run on meta, nothing was "
                "sent; opcount records the bytes the call would send",
                stacklevel=3,
            )
        events = self.counting.events
        before = len(events.frames)
        out = func(*args, **kwargs)
        if len(events.frames) == before + 1:
            frame = self._owner()
            if frame is not None:
                events.frames[-1] = frame
        return out

    def _owner(self) -> int | None:
        """The frame a collective belongs to, where the tracker's own guess is not it: FSDP2's
        labelled module; in backward, outside FSDP2, the root module."""
        tracker = self.tracker
        for _, label in reversed(self._labels):
            if label.startswith(_FSDP_LABEL):
                fqn = _label_fqn(label)
                if fqn is not None:
                    return _latest_forward_frame(tracker, fqn)
        if graph_task_id() != -1 and not any(
            label.startswith(_FSDP_LABEL) for _, label in self._labels
        ):
            return _latest_forward_frame(tracker, None)
        return None


def _kind_of(func: OpOverload) -> int:
    namespace = func.namespace
    if namespace in _COMM_NAMESPACES:
        return 1
    if namespace == "profiler":
        return 2
    return 0


def _label_fqn(label: str) -> str | None:
    """``"FSDP::all_gather (layers.0)"`` -> ``"layers.0"``; ``"FSDP::all_gather"`` (the root
    group's, whose name is empty) -> ``""``; prefetch labels name their target after "for"."""
    head = label.split(" [pg=")[0]
    if head.endswith(")") and " (" in head:
        return head[head.rindex(" (") + 2 : -1]
    if " for " in head:
        return head.split(" for ", 1)[1]
    if head.startswith(("FSDP::all_gather", "FSDP::post_backward", "FSDP::pre_backward")):
        return ""
    return None


def _latest_forward_frame(tracker: Any, fqn: str | None) -> int | None:
    """The last forward call of module ``fqn`` (None: of the outermost module) in the tracker's
    frame table; None where there is none."""
    frames = tracker.frames
    for index in range(len(frames) - 1, 1, -1):
        name, _type, _call, phase = frames[index]
        if phase != FORWARD:
            continue
        if fqn is None:
            if name == "" or tracker._raw[index][1] == -1:
                return index
        elif name == fqn:
            return index
    return None


def _on_meta(args: Sequence[Any]) -> bool:
    for value in args:
        if isinstance(value, torch.Tensor):
            return value.device.type == "meta"
        if isinstance(value, (list, tuple)) and value:
            return _on_meta(value)
    return False


def rank_mode(counting: CountingMode) -> RankMode | None:
    """A :class:`RankMode` for ``counting`` when torch.distributed is initialised, else None
    (single-process runs keep the counting mode alone, so their per-op path is unchanged)."""
    try:
        import torch.distributed as dist
    except ImportError:
        return None
    if not dist.is_available() or not dist.is_initialized():
        return None
    return RankMode(counting)
