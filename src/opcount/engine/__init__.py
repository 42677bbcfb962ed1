"""The counting engine, the hot path: dispatch mode, module tracker, per-overload decisions,
event store and row memo. May import torch, numpy, ``formulas`` and ``errors``; never pandas,
printing, ``reports``, ``cli``, ``compat`` or ``counter``."""
