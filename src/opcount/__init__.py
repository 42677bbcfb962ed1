"""opcount: exact per-operator FLOPs, MACs and bytes of PyTorch runs, per module, both passes.

A ``TorchDispatchMode`` sees every aten op of a real run; formulas are pure functions of shapes;
a module tracker attributes forward and backward ops to the module call that did the work.
"""

from __future__ import annotations

from .counter import OpCounter
from .devices import DEVICES, peak_flops
from .distributed import by_rank, gather
from .errors import OpCountError, UnsupportedOpError
from .formulas import CATEGORIES, register_formula
from .formulas.costs import DEFAULT_COSTS
from .regions import region
from .reports.export import read_json, read_parquet
from .reports.frames import COLUMNS, read_csv
from .reports.params import count_params, params_by_dtype, params_by_module
from .reports.plot import plot_categories, plot_modules
from .training import StepMeter

__version__ = "0.1.0"

__all__ = [
    "CATEGORIES",
    "COLUMNS",
    "DEFAULT_COSTS",
    "DEVICES",
    "OpCountError",
    "OpCounter",
    "StepMeter",
    "UnsupportedOpError",
    "__version__",
    "by_rank",
    "count_params",
    "gather",
    "params_by_dtype",
    "params_by_module",
    "peak_flops",
    "plot_categories",
    "plot_modules",
    "read_csv",
    "read_json",
    "read_parquet",
    "region",
    "register_formula",
]
