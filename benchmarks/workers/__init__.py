"""Child processes the metrics launch (``python -m benchmarks.workers.NAME``)."""
