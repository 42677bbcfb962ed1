"""Per-element FLOP costs of all non-matmul work: the one table every formula reads.

A FLOP is one floating-point add, subtract, multiply, divide, compare, or one transcendental
(exp, log, sqrt, tanh, erf, ...). Each entry says how many FLOPs one element of an op costs and
why. Formulas read the *active* table through :func:`cost`, so ``OpCounter(costs={...})``
can override any entry for one run; ``docs/formulas.md`` lists this table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from ..errors import OpCountError

COST_DOCS: dict[str, str] = {}
"""Why each entry costs what it does (the docs table is generated from this)."""

DEFAULT_COSTS: dict[str, int] = {}
"""Name -> FLOPs per element, as shipped."""


def define(name: str, flops: int, doc: str) -> None:
    """Add one entry to the default table (at import time only)."""
    if name in DEFAULT_COSTS:
        raise OpCountError(f"cost {name!r} is defined twice")
    DEFAULT_COSTS[name] = flops
    COST_DOCS[name] = doc


# -- fused kernels: attention, linear and convolution epilogues, transformer layers ----------
define("bias_add", 1, "add the bias of a linear layer or convolution, per output element")
define("attention_scale", 1, "multiply a score q.k by the softmax scale")
define("attention_mask", 1, "add a float attention mask to a score (bool/causal masks select)")
define("softmax", 5, "max compare, subtract max, exp, add to row sum, divide by the sum")
define("softmax_backward", 4, "dx = y * (dy - sum(dy * y)): multiply, add, subtract, multiply")
define("residual_add", 1, "the residual add inside a fused transformer layer")
define("norm", 5, "add to mean, subtract mean, square, add to variance, multiply by rstd")
define("affine", 2, "multiply by a norm's weight, add its bias")
define("relu", 1, "one compare")
define("gelu", 5, "x * 0.5 * (1 + erf(x / sqrt(2))): multiply, erf, add, multiply, multiply")
define(
    "gelu_tanh",
    9,
    "0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))): 3 mul for x^3 term, add, "
    "mul by sqrt(2/pi), tanh, add, mul, mul",
)

# -- pointwise arithmetic, activations, softmax, losses, dropout, comparisons ---------------

# -- normalisation, reductions, pooling, resize, embedding and indexing, RNN cells -----------


_active: dict[str, int] = DEFAULT_COSTS  # the same dict, so later define() calls show


def cost(name: str) -> int:
    """FLOPs per element of ``name`` in the active table."""
    return _active[name]


@contextmanager
def using_costs(overrides: Mapping[str, int] | None) -> Iterator[None]:
    """Make ``overrides`` active (on top of the defaults) for the duration of the block."""
    global _active
    if not overrides:
        yield
        return
    for name, value in overrides.items():
        if name not in DEFAULT_COSTS:
            raise OpCountError(
                f"unknown cost {name!r}; known costs: {', '.join(sorted(DEFAULT_COSTS))}"
            )
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise OpCountError(f"cost {name!r} must be a non-negative int, got {value!r}")
    previous = _active
    _active = {**DEFAULT_COSTS, **overrides}
    try:
        yield
    finally:
        _active = previous
