"""The engine under the Workbench: one event loop in a background thread, and collector handles.

The :class:`~ohlcv_workbench.Workbench` facade (``ohlcv_workbench/workbench.py``) builds on
these; widgets use them directly.
"""

from .handle import CollectorHandle
from .loop import LoopThread

__all__ = ["CollectorHandle", "LoopThread"]
