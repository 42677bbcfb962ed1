"""Reports built from the engine's events: DataFrames and aggregates, exports, the printed table,
units, plots, parameter counts. May import ``engine``, ``formulas``, ``errors`` and pandas; never
``counter``, ``cli`` or ``compat``."""
