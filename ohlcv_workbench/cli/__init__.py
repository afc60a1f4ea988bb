"""The ``ohlcv-workbench`` command line: one module per command group.

Each command module exposes ``register(subparsers)``, which adds its parser and sets
``handler(args) -> int`` as the parser default.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Sequence

from ohlcv_workbench.errors import WorkbenchError
from ohlcv_workbench.settings import Settings

from . import collect_cmd, lab, services_cmd, sim_cmd, status_cmd
from .output import error

__all__ = ["build_parser", "main"]

COMMANDS = (collect_cmd, status_cmd, services_cmd, lab, sim_cmd)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = argparse.ArgumentParser(
        prog="ohlcv-workbench",
        description="Collect and explore crypto OHLCV candles (see README.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


#: exit status after a closed pipe (``status | head``), as for a process ended by SIGPIPE
EXIT_BROKEN_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ohlcv-workbench`` console script.

    Errors are one line on stderr with exit status 2; a reader that closes the pipe early
    (``status | head``) ends the command quietly.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    settings: Settings | None = None
    try:
        settings = Settings.from_env()
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        code = int(args.handler(args, settings))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        # the work is done: spare the exit its last full garbage collection over ccxt's
        # hundreds of classes (a quarter of a second); nothing is left to reclaim
        gc.freeze()
        return code
    except WorkbenchError as exc:
        return error(exc)
    except BrokenPipeError:
        # nothing more can be written: send what is still buffered nowhere, so the
        # interpreter's exit does not fail on it again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # an operating-system failure nothing translated: still one line
        where = f" (data dir {settings.data_dir})" if settings is not None else ""
        return error(f"{exc}{where}")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
