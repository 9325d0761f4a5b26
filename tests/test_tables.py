"""course_lib.book.tables: tables are written exactly as asked, and bad rows are named."""
import pytest

from course_lib.book.tables import graph_table, markdown_table, show_table
from course_lib.chain_rule import sum_times_graph

pytestmark = pytest.mark.ch1


def test_markdown_table_formats_numbers_and_keeps_strings():
    rows = [{"name": "a", "count": 12345, "share": 0.25, "extra": "ignored"},
            {"name": "`b`", "count": 7, "share": 1.0, "extra": None}]
    text = markdown_table(rows, ["name", "count", "share"], {"count": ",", "share": ".1%"})
    assert text.splitlines() == ["| name | count | share |",
                                 "|---|---|---|",
                                 "| a | 12,345 | 25.0% |",
                                 "| `b` | 7 | 100.0% |"]


def test_markdown_table_escapes_pipes_and_newlines():
    text = markdown_table([{"x": "a|b\nc"}], ["x"])
    assert text.splitlines()[-1] == "| a\\|b c |"


def test_markdown_table_names_the_missing_column_and_the_row():
    with pytest.raises(KeyError, match=r"row 1 has no value for column\(s\) \['b'\]"):
        markdown_table([{"a": 1, "b": 2}, {"a": 3}], ["a", "b"])
    with pytest.raises(ValueError, match="formats name columns that are not in the table"):
        markdown_table([{"a": 1}], ["a"], {"c": ".2f"})
    with pytest.raises(ValueError, match="at least one column"):
        markdown_table([{"a": 1}], [])


def test_show_table_displays_the_markdown(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    show_table([{"a": 1.5}], ["a"], {"a": ".2f"})
    assert len(shown) == 1 and shown[0].data == "| a |\n|---|\n| 1.50 |"


def test_graph_table_lists_nodes_in_forward_order():
    f = sum_times_graph(1.0, 3.0, -2.0)
    f.backward()
    rows = graph_table(f)
    assert [row["node"] for row in rows][-1] == "f"
    assert {row["node"]: (row["gate"], row["value"], row["grad"]) for row in rows} == {
        "x": ("input", 1.0, -2.0), "y": ("input", 3.0, -2.0), "z": ("input", -2.0, 4.0),
        "q": ("+", 4.0, -2.0), "f": ("*", -8.0, 1.0)}
    coded = graph_table(f, code_font=True)
    assert coded[-1]["node"] == "`f`" and coded[-1]["gate"] == "`*`" and coded[-1]["value"] == -8.0


def test_graph_table_rejects_what_is_not_a_value():
    with pytest.raises(TypeError, match="Value"):
        graph_table(3.0)
