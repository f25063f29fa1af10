"""Tools around the product: the demo, the benchmarks, the call simulation."""
from __future__ import annotations


class BenchmarkFailed(Exception):
    """A benchmark could not run (what it started did not come up): the CLI
    prints the message, no traceback, and exits 1."""
