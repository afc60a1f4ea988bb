"""Test kit shipped with the package: used by the test suite and usable by its users.

``pytest -p ohlcv_workbench.testkit.pytest_plugin`` isolates a test run in its own data dir
(own embedded Redis, store and simulator) and refuses any connection that leaves loopback.
"""

from .netguard import NonLoopbackConnectionError, loopback_only

__all__ = ["NonLoopbackConnectionError", "loopback_only"]
