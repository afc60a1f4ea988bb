"""fullon_cache's import path (``fullon_cache.process_cache``), kept for code written against it.

The registry lives in :mod:`ohlcv_workbench.registry`; this module only re-exports its
fullon-style names, so ``from ohlcv_workbench.process_cache import ProcessCache, ProcessType,
ProcessStatus`` keeps working.
"""

from ohlcv_workbench.registry import ProcessCache, ProcessStatus, ProcessType

__all__ = ["ProcessCache", "ProcessStatus", "ProcessType"]
