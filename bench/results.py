"""bench/RESULTS.md: each benchmark owns one ``## `` section and replaces only that."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(section: str, text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section headed ``section`` (a ``## `` line) with ``text``.

    ``text`` starts with that heading line; other sections are left as they are.
    """
    body = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.rstrip() + "\n\n"
    if pattern.search(body):
        body = pattern.sub(lambda _m: block, body, count=1)
    else:
        body = body.rstrip() + "\n\n" + block
    path.write_text(body.rstrip() + "\n")


def markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (index as the first column)."""
    head = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index)] + [str(v) for v in row.tolist()]) + " |")
    return "\n".join(lines)
