"""``python -m benchmarks.report [FILE]``: a results file as the README's Markdown table."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.run import DEFAULT_OUT


def _figure(value: Any, unit: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def table(lines: list[dict[str, Any]]) -> str:
    """The Markdown table of result lines."""
    rows = ["| metric | value | baseline | ratio | target | ok |", "|---|---|---|---|---|---|"]
    for line in lines:
        unit = line["unit"]
        ok = {True: "yes", False: "**no**", None: "-"}[line["ok"]]
        if line.get("skipped"):
            ok = f"skipped: {line['skipped']}"
        ratio = "-" if line["ratio"] is None else f"{line['ratio']:.3f}x"
        rows.append(
            f"| `{line['metric']}` | {_figure(line['value'], unit)} | "
            f"{_figure(line['baseline'], unit)} | {ratio} | {line['target'] or '-'} | {ok} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table of ``FILE`` (default: the latest results)."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else DEFAULT_OUT
    lines = [json.loads(text) for text in path.read_text().splitlines() if text.strip()]
    print(table(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
