"""Plain-text tables of the analysis' printed summaries: columns padded to their widest cell,
a rule of dashes under the header."""

from __future__ import annotations


def text_table(table: list[list[str]]) -> list[str]:
    """The lines of a table whose first row is the header."""
    widths = [max(len(row[j]) for row in table) for j in range(len(table[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines
