"""Benchmarks for peygir; run them as modules, e.g. ``python -m bench.nlu``."""
