"""What every metric shares: results, the isolated environment, timing and child processes.

A run happens inside one :class:`Context`: a temporary data dir (so nothing touches the user's
data, Redis or store), an environment stripped of the user's ``OHLCV_WORKBENCH_*`` and fullon
``REDIS_*`` variables, and, on exit (also after SIGINT or SIGTERM), its children stopped,
``services down`` for that data dir, every process still working under its temporary root
stopped, and the directory removed. Timed work that talks to the simulator runs in a process
other than the simulator's (see :mod:`benchmarks.simproc`), so client and server never share
one GIL.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

__all__ = [
    "Context",
    "Result",
    "Target",
    "median",
    "percentile",
    "run_timed",
]

ROOT = Path(__file__).resolve().parent.parent
_PREFIX = "OHLCV_WORKBENCH_"


@dataclass(frozen=True)
class Target:
    """``on`` (``"ratio"`` or ``"value"``) compared with ``limit`` by ``op``."""

    on: Literal["ratio", "value"]
    op: Literal["<=", ">="]
    limit: float

    def __str__(self) -> str:
        return f"{self.on} {self.op} {self.limit:g}"

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        """True/False, or None when the figure it needs is missing."""
        figure = ratio if self.on == "ratio" else value
        if figure is None or math.isnan(figure):
            return None
        return figure <= self.limit if self.op == "<=" else figure >= self.limit


@dataclass
class Result:
    """One JSON line: ``metric, value, unit, baseline, ratio, target, ok`` plus details.

    ``ratio`` is ``value / baseline``. A skipped metric has ``skipped`` (the reason) and no
    figures; a failed one has ``error``.
    """

    metric: str
    value: float | None
    unit: str
    baseline: float | None = None
    target: Target | None = None
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    error: str | None = None
    #: further conditions of ``ok`` besides the target, e.g. ``{"no 429": True}``
    checks: dict[str, bool] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` (None without both)."""
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def ok(self) -> bool | None:
        """Whether the target is met (None: no target, skipped or failed)."""
        if self.skipped or self.error or self.target is None:
            return None
        met = self.target.met(self.value, self.ratio)
        return met and all(self.checks.values()) if met is not None else None

    def as_dict(self) -> dict[str, Any]:
        """The JSON line's fields, rounded for reading."""
        line: dict[str, Any] = {
            "metric": self.metric,
            "value": _round(self.value),
            "unit": self.unit,
            "baseline": _round(self.baseline),
            "ratio": _round(self.ratio),
            "target": str(self.target) if self.target else None,
            "ok": self.ok,
        }
        if self.skipped:
            line["skipped"] = self.skipped
        if self.error:
            line["error"] = self.error
        if self.checks:
            line["checks"] = self.checks
        line.update({k: _round(v) if isinstance(v, float) else v for k, v in self.details.items()})
        return line

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(self.as_dict(), separators=(", ", ": "))


def _round(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return float(f"{value:.4g}") if abs(value) < 1e4 else round(value, 1)


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class Context:
    """One benchmark run's isolated environment (see the module docstring).

    ``quick`` selects the small sizes. ``env`` is the environment for child processes;
    :meth:`scratch` gives a fresh directory under the temporary root.
    """

    def __init__(self, *, quick: bool, keep: bool = False) -> None:
        self.quick = quick
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="ohlcv-bench-"))
        self.data_dir = self.root / "data"
        self.data_dir.mkdir()
        self._saved: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self._children: list[subprocess.Popen[str]] = []
        self._restore_sigterm: Callable[[], None] = lambda: None

    def __enter__(self) -> Self:
        from ohlcv_workbench.services.processes import interrupt_on_sigterm
        from ohlcv_workbench.settings import FULLON_VARIABLES  # the user's, kept out

        self._restore_sigterm = interrupt_on_sigterm()  # SIGTERM unwinds through __exit__
        for key in list(os.environ):
            if key.startswith(_PREFIX) or key in FULLON_VARIABLES:
                self._saved[key] = os.environ.pop(key)
        os.environ[f"{_PREFIX}DATA_DIR"] = str(self.data_dir)
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from ohlcv_workbench.services.catalog import stop_leftovers

        try:
            for child in self._children:
                stop_process(child)
            stop_leftovers(self.data_dir, [self.root])  # services down, and any straggler
        finally:
            os.environ.pop(f"{_PREFIX}DATA_DIR", None)
            os.environ.update(self._saved)
            self._restore_sigterm()
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)

    def redis_url(self) -> str:
        """The run's embedded Redis (started now if needed, so no timing pays for it)."""
        from ohlcv_workbench.services import redis_url
        from ohlcv_workbench.settings import Settings

        return redis_url(Settings.from_env())

    def scratch(self, name: str) -> Path:
        """A new empty directory ``name`` under the run's root."""
        path = self.root / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def child_env(self, **settings: str) -> dict[str, str]:
        """The child environment plus ``OHLCV_WORKBENCH_{NAME}`` settings."""
        return {**self.env, **{f"{_PREFIX}{k.upper()}": v for k, v in settings.items()}}

    @contextlib.contextmanager
    def setting(self, **settings: str) -> Iterator[None]:
        """Set ``OHLCV_WORKBENCH_{NAME}`` in this process for the block."""
        keys = {f"{_PREFIX}{k.upper()}": v for k, v in settings.items()}
        old = {k: os.environ.get(k) for k in keys}
        os.environ.update(keys)
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Popen:
        """Start a child that :meth:`__exit__` stops if it is still running.

        Its stdout is a text pipe; its stderr goes to :meth:`log_path` ``(name)``.
        """
        with open(self.log_path(name), "a") as log:
            child = subprocess.Popen(
                list(argv),
                env=dict(env or self.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=ROOT,
                start_new_session=True,
            )
        self._children.append(child)
        return child

    def log_path(self, name: str) -> Path:
        """Where the stderr of the child ``name`` goes."""
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        return logs / f"{name}.log"

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of the child's stderr."""
        try:
            return self.log_path(name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""


Popen = subprocess.Popen[str]


def python(*args: str) -> list[str]:
    """argv running this interpreter."""
    return [sys.executable, *args]


def cli(*args: str) -> list[str]:
    """argv of the ``ohlcv-workbench`` console script installed beside this interpreter."""
    return [str(Path(sys.executable).with_name("ohlcv-workbench")), *args]


def stop_process(child: Popen, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL the child (only this one process)."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout)
    for stream in (child.stdout, child.stderr):
        if stream is not None:
            stream.close()


@dataclass(frozen=True)
class Timed:
    """A finished child: wall seconds (launch to exit), start (epoch s), its output."""

    seconds: float
    started: float
    stdout: str
    stderr: str
    returncode: int = 0

    def json(self) -> Any:
        """The last stdout line that is JSON."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                return json.loads(line)
        raise RuntimeError(f"no JSON in the output:\n{self.stdout[-2000:]}\n{self.stderr[-2000:]}")


def run_timed(
    argv: Sequence[str], env: Mapping[str, str], timeout: float = 600.0, check: bool = True
) -> Timed:
    """Run a child to completion; RuntimeError with its output when it fails."""
    started = time.time()
    t0 = time.perf_counter()
    done = subprocess.run(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    seconds = time.perf_counter() - t0
    if check and done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:6])} ... exited with {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return Timed(seconds, started, done.stdout, done.stderr, done.returncode)
