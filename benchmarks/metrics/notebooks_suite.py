"""Metric 7, ``notebooks_suite``: wall time of ``pytest --nbmake notebooks``.

The run uses the benchmark's temporary data dir (its own Redis and simulator, stopped at the
end). The baseline is the same command on one notebook holding a single ``pass`` cell: the
fixed cost of pytest, nbmake and one kernel start, so the ratio reads as "this many empty
notebooks". Target: value <= 90 s, and every notebook passes (a failing suite still reports
its time, with pytest's summary). Skipped when there are no notebooks, and under ``--quick``
(the notebooks run in ``make test``).
"""

from __future__ import annotations

import json

from benchmarks.harness import ROOT, Context, Result, Target, Timed, python, run_timed

NAME = "notebooks_suite"
TARGET = Target("value", "<=", 90.0)

_EMPTY = {
    "cells": [
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
         "source": ["pass"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}  # fmt: skip


def _nbmake(ctx: Context, target: str, check: bool = True) -> Timed:
    argv = python(
        "-m", "pytest", "--nbmake", "-q", "-p", "no:cacheprovider", "--color=no",
        "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), target,
    )  # fmt: skip
    return run_timed(argv, ctx.env, timeout=900, check=check)


def _summary(output: str) -> str:
    """pytest's last line (``1 failed, 5 passed in 55.8s``) and the failed notebooks."""
    lines = output.strip().splitlines()
    failed = [line.split("::", 1)[0].removeprefix("FAILED ") for line in lines if "FAILED" in line]
    return "; ".join([lines[-1].strip("= ") if lines else "", *failed])


def run(ctx: Context) -> list[Result]:
    """One line: the suite's wall time against one empty notebook's."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not notebooks:
        return [Result(NAME, None, "s", skipped="no notebooks in notebooks/ yet", target=TARGET)]
    if ctx.quick:
        reason = "--quick: the notebooks run in `make test`; the full run times them"
        return [Result(NAME, None, "s", skipped=reason, target=TARGET)]
    empty = ctx.scratch(NAME) / "empty.ipynb"
    empty.write_text(json.dumps(_EMPTY))
    baseline = _nbmake(ctx, str(empty)).seconds
    suite = _nbmake(ctx, str(ROOT / "notebooks"), check=False)
    return [
        Result(
            NAME,
            suite.seconds,
            "s",
            baseline,
            TARGET,
            {
                "notebooks": len(notebooks),
                "pytest": _summary(suite.stdout),
                "baseline_is": "nbmake of one notebook with `pass`",
            },
            checks={"every notebook passes": suite.returncode == 0},
        )
    ]
