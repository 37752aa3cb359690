"""Markdown tables as the result files and the docs show them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def shape_text(shape: Iterable[int]) -> str:
    """An array shape as a table shows it, e.g. ``4096×32000``."""
    return "×".join(str(n) for n in shape)


def table_lines(header: Sequence[str], rows: Iterable[Sequence[str]], text_columns: int
                ) -> list[str]:
    """The lines of a markdown table: ``header``, the alignment line (the first
    ``text_columns`` columns left-aligned, the others right-aligned, as numbers are) and one
    line per row of cells."""
    alignment = ["---"] * text_columns + ["---:"] * (len(header) - text_columns)
    return [_line(header), "|" + "|".join(alignment) + "|", *(_line(row) for row in rows)]


def captioned_table(caption: str, header: Sequence[str], rows: Iterable[Sequence[str]],
                    text_columns: int) -> str:
    """``caption``, a blank line and the table of :func:`table_lines`, ending in a newline."""
    return "\n".join([caption, "", *table_lines(header, rows, text_columns)]) + "\n"


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
