"""Training steps: StepMeter (throughput, MFU and HFU of a running loop) and the optimizers the
CLI names. May import errors, formulas, engine, reports, counter and devices; nothing imports it
but cli and the package's __init__."""

from .meter import StepMeter, StepRecord
from .optimizers import OPTIMIZERS, make_optimizer

__all__ = ["OPTIMIZERS", "StepMeter", "StepRecord", "make_optimizer"]
