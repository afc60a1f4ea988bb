"""``python -m ohlcv_workbench`` is the ``ohlcv-workbench`` command."""

import sys

from .cli import main

sys.exit(main())
