"""The notebook runtime: a loop thread, the Workbench facade and collector handles."""

from .handle import CollectorHandle
from .loop import LoopThread
from .workbench import Workbench

__all__ = ["CollectorHandle", "LoopThread", "Workbench"]
