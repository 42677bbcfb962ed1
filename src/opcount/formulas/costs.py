"""Per-element FLOP costs of all non-matmul work: the one table every formula reads.

A FLOP is one floating-point add, subtract, multiply, divide, compare, or one transcendental
(exp, log, sqrt, tanh, erf, ...). Each entry says how many FLOPs one element of an op costs and
why. Formulas read the *active* table through :func:`cost`, so ``OpCounter(costs={...})``
can override any entry for one run; ``docs/formulas.md`` lists this table.
"""

from __future__ import annotations

from collections.abc import Mapping

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
# Elementary operations: the building blocks most pointwise formulas sum.
define("add", 1, "one add or subtract per output element (add, sub, rsub, the + of a lerp)")
define("mul", 1, "one multiply per output element (mul, a scaling alpha/value other than 1)")
define("div", 1, "one divide per output element (div, reciprocal, true division of a remainder)")
define("neg", 1, "flip the sign, counted as one FLOP like a subtract from zero")
define("abs", 1, "absolute value of a real number: clear the sign, counted as one FLOP")
define(
    "compare",
    1,
    "one compare: eq/lt/..., maximum/minimum, one bound of a clamp, isnan/isinf; choosing "
    "between two values by the compare's result is part of it",
)
define(
    "select",
    1,
    "where / masked_fill: pick one of two values by a given mask, one blend per element "
    "(counted like relu's max(x, 0))",
)
define(
    "logical",
    1,
    "one boolean or bitwise operation (and, or, xor, not, shifts, copysign's sign-bit copy); "
    "integer and bool inputs land in the int_ops column",
)
define("round", 1, "one rounding: floor, ceil, round-half-even or trunc")
define(
    "transcendental",
    1,
    "one elementary function of a real number: exp, exp2, expm1, log*, sqrt, rsqrt, the "
    "trigonometric and hyperbolic functions and their inverses, erf, erfc, erfinv, lgamma, ...",
)
define(
    "pow",
    1,
    "x ** y for real x: one transcendental (a library pow); pow(x, 2) is one multiply alike",
)
define("sign", 2, "sign(x) = (x > 0) - (x < 0): two compares whose results are combined")
# Complex numbers cost their real arithmetic; an operand that is real is promoted to complex by
# torch before the kernel runs, so mixed real/complex ops cost the complex figure. Ops without a
# complex entry of their own cost twice their real cost (one for each part).
define("complex_add", 2, "(a + bi) + (c + di): one real add per part")
define("complex_mul", 6, "(a + bi)(c + di) = (ac - bd) + (ad + bc)i: four multiplies, two adds")
define(
    "complex_div",
    11,
    "(a + bi) / (c + di) = ((ac + bd) + (bc - ad)i) / (c^2 + d^2): six multiplies, three "
    "adds, two divides",
)
define("complex_abs", 4, "|a + bi| = sqrt(a^2 + b^2): two multiplies, one add, one sqrt")
define("complex_exp", 5, "exp(a + bi) = e^a (cos b + i sin b): exp, cos, sin, two multiplies")
define("complex_log", 6, "log(a + bi) = log|z| + i atan2(b, a): |z| (4), log, atan2")
define(
    "complex_transcendental",
    6,
    "any other elementary function of a complex number (sqrt, sin, tanh, ...), counted like "
    "sin(a + bi) = sin a cosh b + i cos a sinh b: four real transcendentals, two multiplies",
)
# Activations and their backward (per element of the output, or of grad_output for backward).
# A vectorised kernel evaluates both sides of a branch and selects, so both are counted.
define("relu_backward", 1, "threshold_backward: x <= threshold ? 0 : dy, one compare")
define("hardtanh", 2, "hardtanh/relu6: min(max(x, lo), hi), two compares")
define("hardtanh_backward", 2, "(x <= lo || x >= hi) ? 0 : dy: two compares")
define(
    "gelu_backward",
    11,
    "dy * (cdf + x * pdf): cdf = 0.5 (1 + erf(x / sqrt 2)) (mul, erf, add, mul), "
    "pdf = exp(-x^2 / 2) / sqrt(2 pi) (mul, mul, exp, mul), then mul, add, mul",
)
define(
    "gelu_tanh_backward",
    18,
    "torch's tanh-GELU derivative: x^2, x^3, inner = b (x + k x^3) (3), tanh, left = x/2, "
    "right = 1 + t, left' = right / 2, 1 - t^2 (2), inner' = b (1 + 3k x^2) (3), "
    "left' + left * right' * inner' (3), times dy",
)
define("sigmoid", 4, "1 / (1 + exp(-x)): negate, exp, add, divide")
define("sigmoid_backward", 3, "dy * (1 - y) * y: subtract, two multiplies")
define("tanh_backward", 3, "dy * (1 - y^2): multiply, subtract, multiply")
define("silu", 4, "x / (1 + exp(-x)): negate, exp, add, divide")
define(
    "silu_backward",
    9,
    "s = sigmoid(x) (4); dy * s * (1 + x * (1 - s)): subtract, multiply, add, two multiplies",
)
define("hardswish", 5, "x * min(max(x + 3, 0), 6) / 6: add, two compares, multiply, divide")
define(
    "hardswish_backward",
    5,
    "x < -3 ? 0 : x <= 3 ? dy * (x / 3 + 0.5) : dy: two compares, divide, add, multiply",
)
define("hardsigmoid", 4, "min(max(x + 3, 0), 6) / 6: add, two compares, divide")
define("hardsigmoid_backward", 3, "(-3 < x < 3) ? dy / 6 : 0: two compares, divide")
define("leaky_relu", 2, "x > 0 ? x : slope * x: compare, multiply (also prelu and rrelu)")
define("leaky_relu_backward", 2, "x > 0 ? dy : slope * dy: compare, multiply")
define(
    "elu",
    6,
    "x <= 0 ? alpha * scale * (exp(x * input_scale) - 1) : scale * x: compare, multiply, exp, "
    "subtract, multiply (constants folded), and the positive side's multiply (also celu)",
)
define(
    "elu_backward",
    6,
    "x <= 0 ? dy * c * exp(x * input_scale) : dy * scale: compare, multiply, exp, two "
    "multiplies, and the positive side's multiply",
)
define(
    "softplus",
    5,
    "beta x > threshold ? x : log1p(exp(beta x)) / beta: multiply, compare, exp, log1p, divide",
)
define(
    "softplus_backward",
    6,
    "z = exp(beta x); beta x > threshold ? dy : dy * z / (z + 1): multiply, exp, compare, add, "
    "divide, multiply",
)
define("mish", 4, "x * tanh(log1p(exp(x))): exp, log1p, tanh, multiply")
define(
    "mish_backward",
    11,
    "t = tanh(log1p(exp(x))) (3), s = sigmoid(x) (4); dy * (t + x * s * (1 - t^2)): "
    "square, subtract, two multiplies, add, multiply",
)
define("glu", 5, "a * sigmoid(b) per output element: sigmoid (4) and a multiply")
define(
    "glu_backward",
    9,
    "per grad_output element: s = sigmoid(b) (4); da = dy * s (1); "
    "db = dy * a * s * (1 - s) (subtract, three multiplies)",
)
define(
    "prelu_backward",
    3,
    "x > 0 ? (dy, 0) : (w * dy, x * dy): compare, two multiplies (grad_input and the "
    "per-element grad_weight terms)",
)
define(
    "log_sigmoid",
    6,
    "min(x, 0) - log1p(exp(-|x|)): compare, abs, negate, exp, log1p, subtract",
)
define(
    "log_sigmoid_backward",
    6,
    "from the saved z = exp(-|x|): compare x < 0, z / (1 + z) (add, divide), times +-1, "
    "subtract from 0 or 1, times dy",
)
define("hardshrink", 2, "|x| <= lambda ? 0 : x: two compares (also both shrink backwards)")
define(
    "softshrink",
    4,
    "x > l ? x - l : x < -l ? x + l : 0: two compares, subtract, add",
)
define("logit", 3, "log(x / (1 - x)): subtract, divide, log (an eps clamp adds two compares)")
define(
    "logit_backward",
    5,
    "x outside [lo, hi] ? 0 : dy / (x * (1 - x)): two compares, subtract, multiply, divide",
)
# Softmax and log-softmax (the forward "softmax" and "softmax_backward" entries are above).
define(
    "log_softmax",
    5,
    "max compare, subtract max, exp, add to row sum, subtract the row's log-sum; the log of "
    "each row's sum is one 'transcendental' per row",
)
define("log_softmax_backward", 4, "dx = dy - exp(y) * sum(dy): add to row sum, exp, mul, sub")
define(
    "safe_softmax",
    3,
    "_safe_softmax's extra work on top of 'softmax': compare x == -inf, and it into the row's "
    "all-masked flag, select 0 for fully masked rows",
)
# Losses (per element of the broadcast input/target, before the reduction).
define(
    "loss_reduction",
    1,
    "reduction='sum' or 'mean': add each element's loss into the total; 'mean' then divides "
    "once per call",
)
define("mse_loss", 2, "(x - y)^2: subtract, multiply")
define("mse_loss_backward", 3, "norm * (x - y) * dy, norm = 2 or 2/n: subtract, two multiplies")
define(
    "smooth_l1_loss",
    7,
    "z = |x - y|; z < beta ? 0.5 z^2 / beta : z - 0.5 beta: subtract, abs, compare, two "
    "multiplies, divide, subtract",
)
define(
    "smooth_l1_loss_backward",
    6,
    "d = x - y; d < -beta ? -norm dy : d > beta ? norm dy : norm d dy / beta: subtract, two "
    "compares, two multiplies, divide",
)
define(
    "huber_loss",
    7,
    "z = |x - y|; z < delta ? 0.5 z^2 : delta (z - 0.5 delta): subtract, abs, compare, two "
    "multiplies, subtract, multiply",
)
define(
    "huber_loss_backward",
    5,
    "d = x - y; clamp of d to [-delta, delta] (two compares) times norm and dy: subtract, two "
    "compares, two multiplies",
)
define(
    "binary_cross_entropy",
    9,
    "(y - 1) max(log1p(-x), -100) - y max(log(x), -100): subtract, negate, log1p, compare, "
    "multiply, log, compare, multiply, subtract (a weight adds a multiply)",
)
define(
    "binary_cross_entropy_backward",
    6,
    "dy (x - y) / max((1 - x) x, eps): two subtracts, multiply, compare, divide, multiply "
    "(a weight adds a multiply)",
)
define(
    "bce_with_logits",
    9,
    "(1 - y) x - log_sigmoid(x): subtract, multiply, log_sigmoid (6), subtract; pos_weight "
    "adds ((pw - 1) y + 1) * log_sigmoid(x): subtract, multiply, add, multiply",
)
define("soft_margin_loss", 4, "log1p(exp(-x * y)), as torch runs it: negate, multiply, exp, log1p")
define(
    "soft_margin_loss_backward",
    8,
    "z = exp(-y x); -norm y z / (1 + z) dy, as torch runs it: negate, multiply, exp, "
    "multiply, multiply, add, divide, multiply",
)
# Dropout and random numbers.
define(
    "random",
    0,
    "drawing one random number and shaping it to its distribution (rand, randn, randint, "
    "uniform_, normal_, bernoulli, randperm, dropout's mask, ...): random-number generation is "
    "integer bit mixing, not arithmetic on data, so 0 FLOPs by convention; bytes written are "
    "still counted (set e.g. costs={'random': 2} to count it)",
)
define(
    "dropout",
    2,
    "native_dropout: x * mask * (1 / (1 - p)), two multiplies (drawing the mask is 'random')",
)
define("dropout_backward", 2, "native_dropout_backward: dy * mask * scale, two multiplies")
# Optimizer updates, per parameter element (fused kernels; foreach ops count their parts).
define(
    "adam",
    13,
    "one Adam/AdamW step: m = lerp(m, g, 1 - b1) (3); v = b2 v + (1 - b2) g^2 (4); "
    "denom = sqrt(v) / sqrt(bc2) + eps (3); p -= step_size * m / denom (3). Weight decay adds "
    "a multiply (AdamW) or a multiply and an add (Adam), amsgrad a compare, maximize a "
    "negate, grad_scale a divide",
)
define(
    "adagrad",
    7,
    "one Adagrad step: s += g^2 (2); std = sqrt(s) + eps (2); p -= clr * g / std (3); weight "
    "decay adds a multiply and an add",
)
define(
    "sgd",
    2,
    "one SGD step: p -= lr * g, a multiply and a subtract; weight decay adds a multiply and an "
    "add, maximize a negate, grad_scale a divide",
)
define(
    "sgd_momentum",
    2,
    "momentum buffer after the first step: b = momentum * b + g (multiply, add; dampening adds "
    "a multiply, nesterov g + momentum * b a multiply and an add); the first step copies g",
)
define(
    "amp_unscale",
    2,
    "GradScaler unscale: g * (1 / scale) and a finiteness test, a multiply and a compare",
)

# -- normalisation, reductions, pooling, resize, embedding and indexing, RNN cells -----------
# Normalisation. Layer, group and batch norm (training) reuse "norm" and "affine" above, so a
# LayerNorm costs the same alone as inside a fused transformer layer. Per-group scalar work
# (mean = sum / n, rstd = rsqrt(var / n + eps)) is not counted, as in "norm".
define(
    "norm_affine_half",
    1,
    "multiply by a norm's weight alone, or add its bias alone (a norm with only one of the two)",
)
define("norm_eval", 2, "subtract the running mean, multiply by rstd (batch norm in eval mode)")
define(
    "norm_stats",
    4,
    "batch statistics alone (batch_norm_stats): add to the mean, subtract the mean, square, "
    "add to the variance",
)
define(
    "norm_running_stats",
    7,
    "per channel: running_mean = (1 - m) * running_mean + m * mean (2 multiplies, add); "
    "running_var likewise on the unbiased variance (multiply by n / (n - 1), 2 multiplies, add)",
)
define(
    "norm_gather_stats",
    6,
    "per device and channel (SyncBatchNorm): merge one device's count, mean and variance into "
    "the total: delta, weighted mean update, variance update (2 each)",
)
define(
    "norm_recompute",
    2,
    "x_hat = (x - mean) * rstd, recomputed in backward from the saved mean and rstd",
)
define(
    "norm_backward",
    7,
    "dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)): add g to its sum, multiply by x_hat "
    "and add to that sum (3), then 2 subtracts and 2 multiplies (4)",
)
define("norm_eval_backward", 1, "dx = g * rstd: running statistics are constants")
define("norm_weight_backward", 1, "g = dy * weight, the gradient entering the normalisation")
define("norm_weight_grad", 2, "dweight: multiply dy by x_hat, add to the per-feature sum")
define("norm_bias_grad", 1, "dbias: add dy to the per-feature sum")
define(
    "norm_backward_reduce",
    4,
    "SyncBatchNorm backward reduce: add dy to its sum, x - mean, multiply by dy, add to that sum",
)
define(
    "norm_backward_elemt",
    5,
    "SyncBatchNorm backward: dx = (dy - mean(dy) - (x - mean) * c) * s with per-channel c and s: "
    "subtract, multiply, 2 subtracts, multiply",
)
define(
    "rms_norm_backward",
    5,
    "dx = rstd * (g - x * rstd^2 * mean(g * x)): multiply g by x and add to the sum (2), multiply "
    "x by the row's scalar, subtract, multiply by rstd (3)",
)
define("rms_norm_weight_grad", 3, "dweight: x * rstd, times dy, add to the per-feature sum")
define(
    "weight_norm",
    3,
    "w = v * g / ||v||: square v and add it to its slice's norm (2), multiply by g / norm (1)",
)
define(
    "weight_norm_backward",
    5,
    "dg = sum(dw * v) / norm: multiply, add (2); dv = (g / norm) * (dw - v * dg / norm): "
    "multiply, subtract, multiply (3)",
)

# Reductions and scans. A reduction of n elements is counted as n operations, accumulating
# into the identity, like "norm" counts its sums.
define("reduce_add", 1, "add one element to a sum (sum, mean, cumsum, trace, scatter_add, ...)")
define("reduce_mul", 1, "multiply one element into a product (prod, cumprod, scatter 'prod')")
define(
    "reduce_compare",
    1,
    "compare one element with the running max/min, or test it (amax, argmax, cummax, any, all, "
    "nonzero); binary max/min: one compare per output element",
)
define("reduce_divide", 1, "divide a sum by its count, per output element (mean, scatter 'mean')")
define("reduce_nan_test", 1, "test one element for NaN (nansum, nanmedian)")
define(
    "reduce_var",
    4,
    "var/std: add to the mean, subtract the mean, square, add to the sum of squares",
)
define(
    "reduce_var_finish",
    2,
    "per output: divide the sum by n for the mean, divide the squares by n - correction",
)
define(
    "reduce_root",
    1,
    "per output: the square root of std or a 2-norm, the 1/p power of a p-norm",
)
define(
    "reduce_norm",
    2,
    "vector norm of order 2 (square, add), 1 (abs, add), inf/-inf (abs, compare) or 0 "
    "(compare with 0, add), per element",
)
define("reduce_norm_p", 3, "vector norm of any other order p: abs, pow p, add, per element")
define("reduce_logsumexp", 4, "logsumexp: compare for the max, subtract the max, exp, add")
define("reduce_logsumexp_finish", 2, "per output of logsumexp: log of the sum, add the max back")
define(
    "scan_logaddexp",
    5,
    "logcumsumexp step log(exp(a) + exp(b)) = max(a, b) + log1p(exp(min - max)): compare, "
    "subtract, exp, log1p, add",
)
define(
    "sort_compare",
    1,
    "one comparison of a comparison sort or search: sort n keys in n * ceil(log2 n), topk keeps "
    "a heap of k (n * ceil(log2(k + 1))), binary search in ceil(log2(m + 1)) per query",
)
define(
    "histogram_bin",
    5,
    "histc, per element: 2 compares with the range, subtract the minimum, multiply by "
    "bins / width, add 1 to the bin",
)
define(
    "select_compare",
    2,
    "median/kthvalue by quickselect, per element: each partition pass compares the remaining "
    "elements with a pivot and the range halves, n + n/2 + ... = 2n compares",
)

# Pooling (windows clipped by padding count only their real elements).
define("pool_max", 1, "max pooling: compare one window element with the running max")
define("pool_add", 1, "average pooling: add one window element to the window's sum")
define("pool_divide", 1, "average pooling: divide a window's sum by its size, per output")
define(
    "pool_max_backward",
    1,
    "max pooling backward: add one output gradient into the input gradient at its argmax",
)

# Resampling.
define(
    "resize_tap",
    2,
    "interpolation: multiply one source value by its weight, add it to the output (per tap of "
    "every output element; backward spreads each gradient over the same taps)",
)
define(
    "resize_nearest_backward",
    1,
    "nearest-neighbour backward: add one output gradient into the input gradient",
)
define(
    "grid_sample_coord",
    4,
    "per output location and axis: unnormalise a grid coordinate, ((c + 1) * size - 1) / 2 "
    "(or (c + 1) / 2 * (size - 1) with align_corners)",
)
define(
    "grid_sample_clip",
    2,
    "per output location and axis, padding_mode border or reflection: clip the coordinate "
    "into the image (2 compares; reflection's fold counted alike)",
)
define(
    "grid_sample_weight",
    2,
    "per output location and tap: distance to the tap (subtract) and product of the per-axis "
    "weights (multiply)",
)
define(
    "grid_sample_grad_coord",
    3,
    "grid_sampler backward, per output element, tap and axis: value times the derivative of "
    "the tap weight, times the output gradient, added to the coordinate's gradient",
)
define(
    "grid_sample_coord_backward",
    1,
    "grid_sampler backward, per output location and axis: scale the coordinate gradient by "
    "the unnormalisation factor",
)

# Embeddings and indexed updates (gathers, scatters and copies move data: 0 FLOPs).
define(
    "index_scale",
    1,
    "multiply one indexed element by a factor: index_add's alpha, an embedding bag's "
    "per-sample weight, 1 / frequency of scale_grad_by_freq",
)
define(
    "renorm_row",
    3,
    "per row of renorm / embedding max_norm, after its norm: compare with max_norm, add 1e-7, "
    "divide max_norm by the norm",
)
define("renorm_scale", 1, "renorm / embedding max_norm: multiply an element by its row's factor")

# Recurrent cells, per hidden unit and time step (gate matrix products are MACs, not here).
define(
    "rnn_gate_add",
    1,
    "add the input and hidden products of one gate element, or add one bias vector to it",
)
define("rnn_sigmoid", 4, "a gate's sigmoid 1 / (1 + exp(-x)): negate, exp, add, divide")
define("rnn_tanh", 1, "a tanh: one transcendental")
define("rnn_relu", 1, "a relu: one compare")
define(
    "lstm_state",
    5,
    "c' = f * c + i * g (2 multiplies, add), h' = o * tanh(c') (tanh, multiply)",
)
define(
    "gru_state",
    4,
    "r * (W_hn h + b_hn) (multiply), h' = n + z * (h - n) (subtract, multiply, add)",
)
define(
    "lstm_cell_backward",
    23,
    "tanh(c') (1); do (1) and through o's sigmoid (3); dc += dh * o * (1 - tanh^2) (5); "
    "di, dg, df through their activations (4 each); dc_prev = dc * f (1)",
)
define(
    "gru_cell_backward",
    16,
    "dn = dh * (1 - z) (2), dz = dh * (h - n) (2), dh_prev = dh * z (1), through tanh (3), "
    "dr = dn' * hn and dhn = dn' * r (2), through the two sigmoids (3 each)",
)
define("rnn_tanh_backward", 3, "dh * (1 - h^2): multiply, subtract, multiply")
define("rnn_relu_backward", 1, "dh where h > 0: one compare")
define(
    "rnn_grad_accumulate",
    1,
    "add the gradient from the next time step to the output's gradient of a hidden unit",
)
define(
    "rnn_dropout",
    1,
    "cuDNN/MIOpen dropout between layers in training: multiply by the scaled mask",
)


# -- torchvision's operators (formulas/torchvision_ops.py) -----------------------------------
define("roi_area", 3, "area of one box (x2 - x1) * (y2 - y1): two subtracts, a multiply")
define(
    "nms_iou",
    13,
    "IoU of one pair of boxes against the threshold: 4 max/min for the intersection's corners, "
    "2 subtracts and 2 clamps at 0 for its sides, a multiply for its area, an add and a "
    "subtract for the union, a divide, a compare",
)
define(
    "roi_sample_weights",
    16,
    "per RoI-align sample position (shared by the channels sampled there): its coordinate per "
    "axis (start + bin * (p + (i + 0.5) / grid): 4 each), the offsets to its lower neighbours "
    "and their complements (4), the four tap weights (4 multiplies)",
)
define(
    "deform_sample",
    18,
    "per column element of a deformable convolution: add the offset to the tap's position (2), "
    "bilinear weights as 'roi_sample_weights' does from the offsets (8), four taps, each a "
    "multiply and an add (8)",
)
define(
    "deform_sample_backward",
    18,
    "per column element: its position and weights again (10), then its gradient times each of "
    "the four tap weights, added into the input's gradient (8)",
)
define(
    "deform_offset_grad",
    11,
    "per column element and axis: the bilinear weight's derivative along the axis at the "
    "sampled point (two subtracts, four multiplies, three adds), times the column's gradient, "
    "added into the offset's gradient",
)


# -- linear algebra, FFT, special functions ----------------------------------------------------
# Factorisations and solves (formulas/linalg.py) are counted by the sums of their reference
# algorithms, not per element; these entries are the per-element pieces of the rest.
define(
    "fft",
    5,
    "per point and radix-2 level of a complex FFT (5 N log2 N in all): N/2 butterflies per "
    "level of one complex multiply (6) and two complex adds (4); real-input or real-output "
    "transforms cost half",
)
define(
    "distance",
    3,
    "one coordinate of one pair of a p-distance (cdist, pdist): subtract, then square and add "
    "(p = 2, a multiply-accumulate), abs and add (p = 1), abs and compare (p = inf), or "
    "compare with 0 and add (p = 0)",
)
define("distance_p", 4, "one coordinate of a p-distance of any other p: subtract, abs, pow, add")
define("distance_root", 1, "per pair of a p-distance: the square root (p = 2) or 1/p power")
define(
    "distance_backward",
    4,
    "one coordinate of one pair in a p-distance's backward, p = 1 or 2: subtract, the "
    "derivative (sign, or divide by the distance), multiply by the pair's gradient, add into "
    "the input's gradient",
)
define(
    "distance_backward_p",
    6,
    "the same for any other p: subtract, abs, pow, times the sign, times the pair's gradient "
    "over its distance^(p-1), add",
)
define(
    "polynomial_step",
    4,
    "one step of a three-term recurrence p_k+1 = (a_k x + b_k) p_k - c_k p_k-1 of an "
    "orthogonal polynomial (Chebyshev, Hermite, Laguerre, Legendre): two multiplies, an add "
    "and a subtract; degree n takes n - 1 steps",
)


_active: Mapping[str, int] = DEFAULT_COSTS  # the same dict, so later define() calls show


def cost(name: str) -> int:
    """FLOPs per element of ``name`` in the active table."""
    return _active[name]


def active_table() -> Mapping[str, int]:
    """The table in effect. Tables are replaced, never changed in place, so a hot formula may
    cache sums of its entries until this returns another object."""
    return _active


def cost_table(overrides: Mapping[str, int] | None) -> Mapping[str, int]:
    """The defaults with ``overrides`` on top (the defaults themselves when there are none),
    checked: every name must be a known cost and every value a non-negative int."""
    if not overrides:
        return DEFAULT_COSTS
    for name, value in overrides.items():
        if name not in DEFAULT_COSTS:
            raise OpCountError(
                f"unknown cost {name!r}; known costs: {', '.join(sorted(DEFAULT_COSTS))}"
            )
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise OpCountError(f"cost {name!r} must be a non-negative int, got {value!r}")
    return {**DEFAULT_COSTS, **overrides}


def activate(table: Mapping[str, int]) -> Mapping[str, int]:
    """Make ``table`` (from :func:`cost_table`) the one formulas read; return the one it
    replaces. The dispatch mode activates its counter's table around each formula call, so
    counters nested in one another each count with their own costs."""
    global _active
    previous = _active
    _active = table
    return previous
