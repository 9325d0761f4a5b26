"""course_lib.book.plots: the graph drawing shows every node and local derivative; the
gradient plot is labelled."""
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from course_lib import chain_rule as cr
from course_lib.autodiff import topological_order
from course_lib.book.depth import gradient_norms_by_depth
from course_lib.book.plots import draw_graph, plot_gradient_norms

pytestmark = pytest.mark.ch1


def test_draw_graph_writes_every_node_and_edge():
    f = cr.gate_graph(1.0, 2.0, -1.0, 0.5, -3.0)
    f.backward()
    ax = draw_graph(f, Figure().subplots(), title="gate graph")
    texts = [t.get_text() for t in ax.texts]
    assert ax.get_title() == "gate graph"
    assert any(t.startswith("x1") for t in texts) and any(t.startswith("f [1/x]") for t in texts)
    nodes = topological_order(f)
    edges = sum(len(node.parents) for node in nodes)
    arrows = [t for t in ax.texts if isinstance(t, Annotation)]
    assert len(arrows) == edges and len(ax.texts) == len(nodes) + 2 * edges  # box per node; arrow, number per edge
    assert len([t for t in texts if t.startswith("x1") and "grad" in t]) == 1


def test_draw_graph_without_gradients():
    ax = draw_graph(cr.sum_times_graph(1.0, 3.0, -2.0), Figure().subplots(), show_grad=False)
    assert not any("grad" in t.get_text() for t in ax.texts)
    assert ax.get_title()


def test_gradient_plot_has_one_labelled_line_per_setting():
    norms = {"gain 0.5": gradient_norms_by_depth(5, 0.5), "gain 1.5": gradient_norms_by_depth(5, 1.5)}
    ax = plot_gradient_norms(norms, Figure().subplots())
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert [line.get_label() for line in ax.get_lines()] == list(norms)
    assert list(ax.get_lines()[0].get_ydata()) == pytest.approx(norms["gain 0.5"])


def test_without_axes_both_draw_a_new_pyplot_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        graph = draw_graph(cr.sum_times_graph(1.0, 3.0, -2.0))
        gradients = plot_gradient_norms({"gain 1": gradient_norms_by_depth(3, 1.0)})
        assert graph.figure is not gradients.figure and len(set(plt.get_fignums()) - before) == 2
    finally:
        plt.close("all")
