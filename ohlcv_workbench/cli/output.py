"""How every command reports an error: one line on stderr, exit status 2."""

from __future__ import annotations

import sys

__all__ = ["error"]


def error(message: object) -> int:
    """Print ``ohlcv-workbench: error: MESSAGE`` as one line on stderr; return 2."""
    text = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"ohlcv-workbench: error: {text}", file=sys.stderr)
    return 2
