"""Tables for the book's pages: results written as Markdown tables.

* :func:`markdown_table` formats a list of dicts (one per row) as a Markdown table.
* :func:`show_table` displays that table in a notebook (IPython is imported only then).
* :func:`graph_table` lists the nodes of a computational graph of
  :class:`course_lib.autodiff.Value` with their gate, value and gradient, one row
  per node, ready for :func:`show_table`.

These functions format; they compute nothing of their own.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..autodiff import Value, topological_order

__all__ = ["markdown_table", "show_table", "graph_table"]


def _cell(value, spec: str) -> str:
    # A cell already written as text is kept; anything else goes through format().
    text = value if isinstance(value, str) else format(value, spec)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[Mapping], columns: Sequence[str],
                   formats: Mapping[str, str] | None = None) -> str:
    """A Markdown table with one line per row and the given columns, in that order.

    Args:
        rows: one mapping per table row, holding (at least) a value for every column.
        columns: the column names, used as the header and as keys into each row.
        formats: column -> format spec (``".3g"``, ``","``, ``".1%"``...) for the
            values that are not strings; strings are written as they are.
    Returns:
        The table as text, header and separator first.
    """
    formats = dict(formats or {})
    columns = list(columns)
    if not columns:
        raise ValueError("markdown_table needs at least one column")
    unknown = sorted(set(formats) - set(columns))
    if unknown:
        raise ValueError(f"formats name columns that are not in the table: {unknown}; columns are {columns}")
    lines = ["| " + " | ".join(_cell(c, "") for c in columns) + " |", "|" + "---|" * len(columns)]
    for number, row in enumerate(rows):
        missing = [c for c in columns if c not in row]
        if missing:
            raise KeyError(f"row {number} has no value for column(s) {missing}; it has {list(row)}")
        lines.append("| " + " | ".join(_cell(row[c], formats.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def show_table(rows: Sequence[Mapping], columns: Sequence[str],
               formats: Mapping[str, str] | None = None) -> None:
    """Display :func:`markdown_table` ``(rows, columns, formats)`` in the notebook."""
    from IPython.display import Markdown, display

    display(Markdown(markdown_table(rows, columns, formats)))


def graph_table(root: Value, *, code_font: bool = False) -> list[dict]:
    """One row per node of the graph that ends in ``root``, in forward order.

    Keys: ``node`` (its label, ``"?"`` if it has none), ``gate`` (the operation
    that made it, ``"input"`` for a leaf), ``value`` and ``grad`` (floats; the
    gradient is whatever the last ``backward()`` left, 0 before any).  With
    ``code_font``, node and gate are wrapped in backquotes for a Markdown table.
    """
    if not isinstance(root, Value):
        raise TypeError(f"graph_table needs a course_lib.autodiff.Value, got {type(root).__name__}")
    quote = "`" if code_font else ""
    return [{"node": f"{quote}{node.label or '?'}{quote}", "gate": f"{quote}{node.op or 'input'}{quote}",
             "value": node.data, "grad": node.grad}
            for node in topological_order(root)]
