"""Which module each op belongs to: module call stack, call paths, autograd sequence map, phases.

Forward ops take the innermost module on a stack kept by global forward pre/post hooks. Backward
ops take the module of the forward op whose autograd node is running: during forward, every op
that creates a node is remembered under the node's sequence number; during backward, the running
node's ``_sequence_nr()`` finds it again. The tracker only observes: it never touches inputs,
outputs or the model, and records inconsistencies instead of raising into user code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
from torch.utils.hooks import RemovableHandle

from .events import ShapeTable

OUTSIDE = "<outside>"
"""Module name of ops run outside every module (e.g. a loss computed on the model's output)."""

UNATTRIBUTED = "<unattributed>"
"""Module name of backward ops whose autograd node was created before the counter started."""

OPTIMIZER_MODULE = "<optimizer>"
"""Module name of ops run inside an optimizer's step or zero_grad, an LR scheduler's step or a
GradScaler's unscale_/step/update; their module_type is the optimizer's class name."""

FORWARD, BACKWARD, RECOMPUTE, OPTIMIZER = 0, 1, 2, 3
PHASES = ("forward", "backward", "recompute", "optimizer")

ACCUMULATE_GRAD_SEQ = 2**64 - 1
"""``_sequence_nr()`` of AccumulateGrad nodes, which belong to a parameter, not a forward op."""

_MAX_GAP = 64
"""Longest run of skipped autograd sequence numbers filled in; longer jumps (another thread's
counter) map only the newest number."""

_get_sequence_nr = torch._C._autograd._get_sequence_nr
_current_node = torch._C._current_autograd_node
_graph_task_id = getattr(torch._C, "_current_graph_task_id", None)


def in_backward() -> bool:
    """Whether autograd's engine is running a backward pass on this thread."""
    if _graph_task_id is not None:
        return bool(_graph_task_id() != -1)
    return _current_node() is not None


_Tensor = torch.Tensor
_get_ident = threading.get_ident

graph_task_id: Callable[[], int] = (
    _graph_task_id if _graph_task_id is not None else lambda: 0 if in_backward() else -1
)
"""-1 outside a backward pass: :func:`in_backward` without a Python call, for hot paths."""


def _members(value: Any) -> Iterable[Any]:
    """The first items of a tuple or list, or values of a dict; anything else as itself."""
    if isinstance(value, (tuple, list)):
        return islice(value, 32)
    if isinstance(value, dict):
        return islice(value.values(), 32)
    return (value,)


def tensor_shapes(value: Any, limit: int = 8) -> tuple[tuple[int, ...], ...]:
    """Shapes of the first ``limit`` tensors in ``value`` and one level of containers inside it:
    bounded work per module call, and no reference kept to any tensor.

    A shape is a tuple of ints; for a lone tensor it is the ``torch.Size`` itself (a tuple
    subclass holding ints), which is cheaper to take than a copy.
    """
    # Fast path, taken by most module calls: a lone tensor, or a call's single tensor
    # argument, with plain integer sizes. Same shapes as the loop below.
    single = value[0] if type(value) is tuple and len(value) == 1 else value
    if isinstance(single, torch.Tensor):
        try:
            if not single._has_symbolic_sizes_strides:
                return (single.shape,)
        except (AttributeError, RuntimeError):  # nested tensors: the loop below decides
            pass
    shapes: list[tuple[int, ...]] = []
    for item in _members(value):
        for t in _members(item):
            if not isinstance(t, torch.Tensor):
                continue
            try:
                shapes.append(tuple(int(d) for d in t.shape))
            except (TypeError, RuntimeError):  # symbolic sizes without a value
                continue
            if len(shapes) == limit:
                return tuple(shapes)
    return tuple(shapes)


class ModuleTracker:
    """Keeps the module call stack and maps autograd nodes to the forward op that made them.

    Frames are integers indexing :attr:`frames`, a table of ``(fqn, module_type, call, phase)``;
    frame 0 is :data:`OUTSIDE` and frame 1 :data:`UNATTRIBUTED`.

    A module call only appends ``(module, parent frame, phase)`` to a raw list: the hooks run
    at every call of every module, so names, call counts and parameter owners are worked out
    later, in call order, when :attr:`frames` (or a backward pass) first needs them.
    """

    def __init__(self, model: nn.Module | None = None, *, record_shapes: bool = False) -> None:
        self._frames: list[tuple[str, str, int, int]] = [
            (OUTSIDE, "", 0, FORWARD),
            (UNATTRIBUTED, "", 0, BACKWARD),
        ]
        # frame -> (module, parent frame or -1, phase), as the hooks saw it; the module is
        # kept, so its id cannot be reused by another module while the counter lives
        self._raw: list[tuple[nn.Module | None, int, int]] = [
            (None, -1, FORWARD),
            (None, -1, BACKWARD),
        ]
        self.problems: list[str] = []
        # opt-in: shapes of each forward module call's tensors, as tuples of ints (never the
        # tensors); the reports show each module's first call
        self.record_shapes = record_shapes
        # frame -> index into shape_table: each distinct shape tuple is kept once, so module
        # calls leave no container for Python's garbage collector to walk on every collection
        self.input_shapes: dict[int, int] = {}
        self.output_shapes: dict[int, int] = {}
        self.shape_table = ShapeTable()
        self._size_index: dict[torch.Size, int] = {}  # a lone tensor's shape, kept apart: an
        # empty Size (a scalar) equals the empty tuple (no tensor at all)
        # (module, frame, phase); an optimizer frame holds the optimizer (or scaler) instead
        self._stack: list[tuple[Any, int, int]] = []
        self._optimizer_calls: dict[str, int] = {}  # optimizer class -> frames so far
        self._calls: tuple[dict[str, int], ...] = ({}, {}, {})  # per phase: fqn -> calls
        self._names: dict[tuple[int, int], tuple[nn.Module, nn.Module, str, bool]] = {}
        self._known: dict[int, tuple[nn.Module, str]] = {}
        self._roots: dict[int, tuple[nn.Module, str]] = {}
        self._param_frames: dict[int, int] = {}
        # Parameters of children never called, mapped lazily (see _param_frame): walking every
        # module's subtree on its first call costs O(modules x depth).
        self._first_calls: list[tuple[nn.Module, int]] = []
        self._known_done = 0  # first calls already added to _known (see _known_modules)
        self._subtree_frames: dict[int, int] = {}
        self._subtree_done = 0
        # id(parent) -> (parent, {id(child): (child, name)}): the children each parent had
        # when first seen, as _names caches them (a child replaced later is re-resolved)
        self._children: dict[int, tuple[nn.Module, dict[int, tuple[nn.Module, str]]]] = {}
        self._seq_map: dict[int, tuple[int, int]] = {}
        self._last_seq_nr = _get_sequence_nr()
        self._handles: list[RemovableHandle] = []
        # the thread whose module calls this tracker follows (the global hooks see every
        # thread's); others only when they run this counter's backward (see _counts_thread)
        self._thread = _get_ident()
        if model is not None:
            for name, module in model.named_modules(remove_duplicate=False):
                self._known.setdefault(id(module), (module, name))

    # -- hooks -------------------------------------------------------------------------------

    def attach(self) -> None:
        """Install the global module hooks."""
        reg = nn.modules.module
        self._thread = _get_ident()
        self._handles.append(reg.register_module_forward_pre_hook(self._enter))
        self._handles.append(reg.register_module_forward_hook(self._exit, always_call=True))

    def detach(self) -> None:
        """Remove every hook this tracker installed."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _enter(self, module: nn.Module, args: Any) -> None:
        # runs at every module call: only what cannot be known later (the module, its caller,
        # the phase, the shapes) is taken now; _resolve names it
        if _get_ident() != self._thread and not self._counts_thread():
            return  # another thread's module: not this counter's
        phase = RECOMPUTE if graph_task_id() != -1 else FORWARD
        stack = self._stack
        raw = self._raw
        frame = len(raw)
        raw.append((module, stack[-1][1] if stack else -1, phase))
        stack.append((module, frame, phase))
        if phase == FORWARD:
            if self.record_shapes:
                self.input_shapes[frame] = self._shape_code(args)
        else:  # recompute may run on autograd's device thread, whose sequence counter is its own
            self._last_seq_nr = _get_sequence_nr()

    def _exit(self, module: nn.Module, args: Any, output: Any) -> None:
        if _get_ident() != self._thread and not self._counts_thread():
            return
        stack = self._stack
        if stack and stack[-1][0] is module:
            frame = stack.pop()[1]
            if self.record_shapes and frame in self.input_shapes:
                self.output_shapes[frame] = self._shape_code(output)
            return
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][0] is module:
                self.problems.append(
                    f"module {self.frames[stack[depth][1]][0]!r} exited with "
                    f"{len(stack) - 1 - depth} inner module(s) still open"
                )
                del stack[depth:]
                return
        self.problems.append(f"exit of a {type(module).__name__} that was never entered")

    def enter_optimizer(self, owner: object, type_name: str) -> int:
        """An optimizer step (zero_grad, scheduler or scaler call) on ``owner`` begins: its ops
        take a frame ``(OPTIMIZER_MODULE, type_name, call, OPTIMIZER)`` until
        :meth:`exit_optimizer`. A call nested in one on the same owner (GradScaler.step running
        optimizer.step, a subclass's step calling its base's) shares that frame. Returns the
        stack depth of the new entry (-1, ignored, on a thread this counter does not count)."""
        if _get_ident() != self._thread:  # another thread's optimizer: not this counter's
            return -1
        stack = self._stack
        depth = len(stack)
        if stack and stack[-1][0] is owner and stack[-1][2] == OPTIMIZER:
            stack.append(stack[-1])
            return depth
        frames = self.frames  # names pending module calls first: frames stay in call order
        call = self._optimizer_calls.get(type_name, 0)
        self._optimizer_calls[type_name] = call + 1
        frame = len(self._raw)
        self._raw.append((None, -1, OPTIMIZER))
        frames.append((OPTIMIZER_MODULE, type_name, call, OPTIMIZER))
        stack.append((owner, frame, OPTIMIZER))
        return depth

    def exit_optimizer(self, owner: object, depth: int | None = None) -> None:
        """The optimizer call on ``owner`` that :meth:`enter_optimizer` began (at ``depth``, if
        known) has returned or raised: its entry, and anything left open above it (a module, a
        step that raised before its post-hook), leave the stack."""
        if _get_ident() != self._thread:
            return
        stack = self._stack
        if depth is not None and depth < len(stack) and stack[depth][0] is owner:
            del stack[depth:]
            return
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][0] is owner and stack[depth][2] == OPTIMIZER:
                if depth != len(stack) - 1:
                    self.problems.append(
                        f"an optimizer call returned with {len(stack) - 1 - depth} module(s) "
                        "still open"
                    )
                del stack[depth:]
                return
        self.problems.append(f"end of a {type(owner).__name__} call that never began")

    def _counts_thread(self) -> bool:
        """Whether a module call on a thread other than the counter's is this counter's: an
        autograd device thread running its backward (an activation-checkpoint recompute),
        where this tracker's mode is active. Asked only of other threads' module calls."""
        if graph_task_id() == -1:
            return False
        return any(getattr(m, "tracker", None) is self for m in _get_current_dispatch_mode_stack())

    def _shape_code(self, value: Any) -> int:
        """The index in :attr:`shape_table` of :func:`tensor_shapes` of a module call's inputs
        or output, added if new. Runs twice per module call, so the commonest case (one plain
        tensor, alone or as the only argument) is looked up by its ``torch.Size`` alone."""
        single = value[0] if type(value) is tuple and len(value) == 1 else value
        if type(single) is _Tensor:
            try:
                if not single._has_symbolic_sizes_strides:
                    size = single.shape
                    code = self._size_index.get(size)
                    if code is None:
                        code = self._size_index[size] = self.shape_table.code((size,))
                    return code
            except RuntimeError:  # nested tensors: tensor_shapes decides
                pass
        return self.shape_table.code(tensor_shapes(value))

    def parent_frames(self) -> list[int]:
        """Per frame, the frame of the module call it was called from (-1: none)."""
        return [parent for _module, parent, _phase in self._raw]

    # -- names -------------------------------------------------------------------------------

    @property
    def frames(self) -> list[tuple[str, str, int, int]]:
        """``(fqn, module_type, call, phase)`` of every frame so far, by frame number."""
        if len(self._frames) < len(self._raw):
            self._resolve()
        return self._frames

    @property
    def parents(self) -> list[int]:
        """The caller's frame of every frame (-1 for none), by frame number."""
        return [parent for _module, parent, _phase in self._raw]

    def _resolve(self) -> None:
        """Name the module calls made since the last time, in call order: each call's path is
        its caller's path plus the attribute naming it there (a call in another phase than its
        caller, a recompute inside a forward, is named on its own)."""
        frames = self._frames
        raw = self._raw
        for frame in range(len(frames), len(raw)):
            module, parent_frame, phase = raw[frame]
            assert module is not None  # only frames 0 and 1 have none, and they are resolved
            parent = None
            if parent_frame >= 0 and frames[parent_frame][3] == phase:
                parent_module = raw[parent_frame][0]
                assert parent_module is not None
                parent = (parent_module, parent_frame)
            fqn = self._fqn(module, parent)
            calls = self._calls[phase]
            call = calls.get(fqn, 0)
            calls[fqn] = call + 1
            frames.append((fqn, type(module).__name__, call, phase))
            if call == 0 and phase == FORWARD:
                # A parameter's gradient accumulation belongs to the first module that owns
                # it; parameters of children never called as modules (a parent using
                # `self.proj.weight` through a functional op) belong to the first module that
                # ran with them in its subtree, found only when needed (_param_frame).
                param_frames = self._param_frames
                for param in module._parameters.values():
                    if param is not None:
                        param_frames.setdefault(id(param), frame)
                self._first_calls.append((module, frame))  # names it in _known, lazily

    def _fqn(self, module: nn.Module, parent: tuple[nn.Module, int] | None) -> str:
        """The call path of ``module``: its parent's path plus the attribute naming it there."""
        if parent is None:
            return self._root_name(module)
        parent_module, parent_frame = parent
        key = (id(parent_module), id(module))
        cached = self._names.get(key)
        if cached is None or cached[0] is not module or cached[1] is not parent_module:
            cached = (module, parent_module, *self._relative(parent_module, module))
            self._names[key] = cached
        name, absolute = cached[2], cached[3]
        if absolute:
            return name
        parent_fqn = self._frames[parent_frame][0]
        return f"{parent_fqn}.{name}" if parent_fqn else name

    def _relative(self, parent: nn.Module, module: nn.Module) -> tuple[str, bool]:
        """``(name, absolute)``: the attribute path below ``parent``, else the module's own name."""
        # an index of each parent's children, built once: a Sequential of n children would
        # otherwise scan them all at each child's first call (n^2 / 2 in all)
        index = self._children.get(id(parent))
        if index is None or index[0] is not parent:
            names: dict[int, tuple[nn.Module, str]] = {}
            for name, child in parent._modules.items():
                if child is not None:
                    names.setdefault(id(child), (child, name))
            index = self._children[id(parent)] = (parent, names)
        found = index[1].get(id(module))
        if found is not None and found[0] is module and parent._modules.get(found[1]) is module:
            return found[1], False
        for name, child in parent._modules.items():  # children changed since the index
            if child is module:
                return name, False
        for name, child in parent.named_modules(remove_duplicate=False):
            if child is module and name:
                return name, False
        known = self._known_modules().get(id(module))
        if known is not None and known[0] is module:
            return known[1], True  # called from outside its parent's subtree
        return f"<{type(module).__name__}>", False

    def _known_modules(self) -> dict[int, tuple[nn.Module, str]]:
        """``id(module) -> (module, name)``: the model's names, then each module that ran
        forward, by the path of its first call. First calls are added only here, when a name
        is looked up (rarely), rather than at every module call."""
        known = self._known
        pending = self._first_calls[self._known_done :]
        if pending:
            frames = self._frames
            for module, frame in pending:
                known.setdefault(id(module), (module, frames[frame][0]))
            self._known_done += len(pending)
        return known

    def _root_name(self, module: nn.Module) -> str:
        known = self._known_modules().get(id(module))
        if known is not None and known[0] is module:
            return known[1]
        root = self._roots.get(id(module))
        if root is not None and root[0] is module:
            return root[1]
        if not self._roots and not self._known:
            name = ""
        else:
            base = f"<{type(module).__name__}>"
            taken = {n for _, n in self._roots.values()}
            name, i = base, 1
            while name in taken:
                name, i = f"{base}#{i}", i + 1
        self._roots[id(module)] = (module, name)
        self._known.setdefault(id(module), (module, name))
        return name

    # -- per op ------------------------------------------------------------------------------

    def current_forward_frame(self, seq: int) -> int:
        """Frame of a forward op; remembers the autograd node it creates, if any."""
        frame = self._stack[-1][1] if self._stack else 0
        seq_nr = _get_sequence_nr()
        if seq_nr != self._last_seq_nr:
            self.note_nodes(seq_nr, frame, seq)
        return frame

    def note_nodes(self, seq_nr: int, frame: int, seq: int) -> None:
        """Op ``seq`` of ``frame`` left the sequence counter at ``seq_nr``, past
        ``_last_seq_nr``: map the autograd nodes made since to it. (The dispatch mode calls
        this directly, having read the counter and the frame itself.)"""
        last = self._last_seq_nr
        # This op created the node numbered seq_nr - 1 (the counter is read after creation).
        # Numbers skipped since the last op belong to nodes made without an op of their own
        # reaching the mode: an in-place op's node made before the clone it dispatches
        # first, a custom autograd.Function's node made before its forward's ops. They
        # ran in this same module call, so they take this frame.
        entry = (frame, seq)
        if 0 < seq_nr - last <= _MAX_GAP:
            for number in range(last, seq_nr):
                self._seq_map[number] = entry
        else:
            self._seq_map[seq_nr - 1] = entry
        self._last_seq_nr = seq_nr

    def _param_frame(self, param_id: int) -> int:
        """Frame of the first module call that owns the parameter, else of the first whose
        subtree holds it (frames of first calls, extended as new modules run), else 0."""
        if len(self._frames) < len(self._raw):
            self._resolve()  # parameter owners are found as first calls are named
        frame = self._param_frames.get(param_id)
        if frame is not None:
            return frame
        subtree = self._subtree_frames
        pending = self._first_calls[self._subtree_done :]
        self._subtree_done = len(self._first_calls)
        for module, first in pending:
            for param in module.parameters():
                subtree.setdefault(id(param), first)
        return subtree.get(param_id, 0)

    def backward_frame(self, seq: int) -> tuple[int, int, int]:
        """``(frame, phase, fwd_seq)`` of op ``seq`` run inside a backward pass."""
        stack = self._stack
        if stack:
            top_phase = stack[-1][2]
            if top_phase == RECOMPUTE:
                return self.current_forward_frame(seq), RECOMPUTE, -1
            if top_phase == OPTIMIZER:  # a step run from a backward hook (optimizer in backward)
                return stack[-1][1], OPTIMIZER, -1
        node = _current_node()
        if node is None:
            return 1, BACKWARD, -1
        seq_nr = node._sequence_nr()
        if seq_nr == ACCUMULATE_GRAD_SEQ:
            variable = getattr(node, "variable", None)
            # a parameter's accumulation belongs to its module; a leaf input's to no module
            return self._param_frame(id(variable)), BACKWARD, -1
        entry = self._seq_map.get(seq_nr)
        if entry is None:
            return 1, BACKWARD, -1
        return entry[0], BACKWARD, entry[1]
