"""Test kit shipped with the package: used by the test suite and usable by its users.

``pytest -p ohlcv_workbench.testkit.pytest_plugin`` isolates a test run in its own data dir
(own embedded Redis, store, simulator and PostgreSQL) and refuses any connection that leaves
loopback; :func:`scratch_database` gives a throw-away PostgreSQL database.
"""

from .netguard import NonLoopbackConnectionError, loopback_only
from .postgres import scratch_database

__all__ = ["NonLoopbackConnectionError", "loopback_only", "scratch_database"]
