"""opcount's overhead and scale benchmarks: ``python -m benchmarks [--quick] [FAMILY ...]``.

Every timing compares variants run interleaved in one process (A, B, C, A, B, C, ...) and keeps
the median, so a ratio is measured side by side rather than across runs or machines.
"""
