"""Per-element FLOP costs of the non-matmul work that fused kernels perform.

One place for every constant, so the docs table and the formulas can never disagree. A FLOP is one
floating-point add, multiply, divide, compare, or one transcendental (exp, log, tanh, ...).
"""

from __future__ import annotations

SOFTMAX_FORWARD = 5
"""Per element: max compare, subtract max, exp, add to the row sum, divide by the sum."""

SOFTMAX_BACKWARD = 4
"""Per element: ``dx = y * (dy - sum(dy * y))``: multiply, add to row sum, subtract, multiply."""

ATTENTION_SCALE = 1
"""Per score: multiply ``q @ k^T`` by the softmax scale."""

ATTENTION_MASK = 1
"""Per score: add a float attention mask (boolean and causal masks select, costing nothing)."""

BIAS_ADD = 1
"""Per output element: add the bias of a linear layer or convolution."""

RELU = 1
"""Per element: one compare."""

GELU_ERF = 8
"""Per element, exact GELU ``x * 0.5 * (1 + erf(x / sqrt(2)))``: erf counted as 5, then 3."""

GELU_TANH = 9
"""Per element, tanh-approximate GELU: ``0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))``."""

NORM_FORWARD = 5
"""Per element of a normalisation's input: add to the mean, subtract the mean, square, add to the
variance, multiply by the reciprocal standard deviation (per-row divides and rsqrt not counted)."""

AFFINE = 2
"""Per element: multiply by the weight, add the bias (when the norm has them)."""

RESIDUAL_ADD = 1
"""Per element: the residual connection's add inside a fused transformer layer."""
