"""Benchmarks: ``python -m benchmarks [--quick] [--only METRIC ...] [--out FILE]``.

Every figure is a ratio against a baseline measured in the same run (see ``run.py`` for the
registry and ``harness.py`` for the isolated environment).
"""
