"""Benchmarks: `python -m benchmarks.sync` (full sync end to end), `benchmarks.c1z_write`."""
