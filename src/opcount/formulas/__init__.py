"""Cost formulas: the registry, the built-in formulas by op family, and the free-op set.
Pure functions of shapes: may import torch and ``errors`` only, never another part of opcount.

Importing this package registers every built-in formula in :data:`REGISTRY`.
"""

from __future__ import annotations

from . import (  # noqa: F401  (importing registers the formulas)
    activation,
    attention,
    comm,
    conv,
    copy,
    dropout_random,
    fft,
    indexing,
    linalg,
    matmul,
    misc,
    norm,
    optimizer,
    pointwise,
    pool,
    reduction,
    resize,
    rnn,
    softmax_loss,
    sparse,
)
from .comm import COMM_FREE_NAMES
from .free import FREE_OPS
from .registry import (
    CATEGORIES,
    REGISTRY,
    Cost,
    Formula,
    FormulaFn,
    Registry,
    register_formula,
    to_packet,
)

__all__ = [
    "CATEGORIES",
    "COMM_FREE_NAMES",
    "FREE_OPS",
    "REGISTRY",
    "Cost",
    "Formula",
    "FormulaFn",
    "Registry",
    "register_formula",
    "to_packet",
]
