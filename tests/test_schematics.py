"""course_lib.book.schematics: each schematic shows what the library computes (windows,
backward reach, im2col's columns), has a title, and refuses settings it cannot draw."""
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from course_lib.book import schematics as sch

pytestmark = pytest.mark.ch2


def _rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


@pytest.mark.parametrize("depth, kernel", [(1, 1), (3, 3), (4, 2)])
def test_filter_volume_outlines_the_window_on_every_map(depth, kernel):
    ax = sch.draw_filter_volume(Figure().subplots(), height=5, width=6, depth=depth, kernel=kernel,
                                position=(0, 1))
    windows = [p for p in _rectangles(ax) if p.get_width() == kernel and p.get_height() == kernel
               and p.get_alpha() == pytest.approx(0.45)]
    assert len(windows) == depth
    assert any(f"{kernel}x{kernel}x{depth}" in t.get_text() for t in ax.texts)
    assert ax.get_title()


@pytest.mark.parametrize("kwargs, message", [({"kernel": 7}, "larger"), ({"position": (4, 0)}, "outside"),
                                             ({"depth": 0}, "depth")])
def test_filter_volume_rejects_impossible_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sch.draw_filter_volume(Figure().subplots(), **kwargs)


@pytest.mark.parametrize("size, kernel", [(5, 3), (6, 2), (4, 4)])
def test_backward_reach_is_the_window_and_counts_sum_to_all_taps(size, kernel):
    n_out = size - kernel + 1
    for output in [(0, 0), (n_out - 1, n_out - 1)]:
        reach, count = sch.conv_backward_reach(size, kernel, output)
        expected = torch.zeros(size, size, dtype=torch.int64)
        expected[output[0]:output[0] + kernel, output[1]:output[1] + kernel] = 1
        assert torch.equal(reach, expected)
    assert int(count.sum()) == n_out * n_out * kernel * kernel    # every output reads k*k pixels
    assert int(count[0, 0]) == 1 and int(count.max()) == min(kernel, n_out) ** 2


def test_backward_reach_rejects_an_output_outside_the_map():
    with pytest.raises(ValueError, match="outside"):
        sch.conv_backward_reach(5, 3, (3, 0))


def test_conv_backward_figure_has_three_titled_panels():
    axes = sch.draw_conv_backward(Figure().subplots(1, 3), input_size=6, kernel=3, output=(1, 2))
    assert all(ax.get_title() and ax.get_xlabel() and ax.get_ylabel() for ax in axes)
    assert axes[0].figure._suptitle.get_text()


def test_layer_graph_has_a_box_and_a_cache_per_layer_and_arrows_both_ways():
    layers = ["conv", "ReLU", "pool", "affine", "loss"]
    ax = sch.draw_layer_graph(layers, Figure().subplots())
    texts = [t.get_text() for t in ax.texts]
    assert sum(t.startswith("layer ") for t in texts) == len(layers)
    assert sum(t.startswith("cache ") for t in texts) == len(layers)
    assert sum(t.startswith("Δx") for t in texts) == len(layers)
    with pytest.raises(ValueError, match="at least one"):
        sch.draw_layer_graph([], Figure().subplots())


@pytest.mark.parametrize("size, kernel", [(4, 3), (4, 2), (5, 3)])
def test_im2col_columns_show_the_library_columns(size, kernel):
    ax_in, ax_cols = sch.draw_im2col_windows(Figure().subplots(1, 2), size=size, kernel=kernel)
    n_cols = (size - kernel + 1) ** 2
    outlines = [p for p in _rectangles(ax_in) if not p.get_fill()]
    assert len(outlines) == n_cols
    numbers = [int(t.get_text()) for t in ax_cols.texts]
    first_column = numbers[:kernel * kernel]                       # column 0 is written first
    assert first_column == [r * size + c for r in range(kernel) for c in range(kernel)]
    assert ax_in.get_title() and ax_cols.get_xlabel() and ax_cols.get_ylabel()


def test_im2col_refuses_more_windows_than_colours():
    with pytest.raises(ValueError, match="colour"):
        sch.draw_im2col_windows(Figure().subplots(1, 2), size=8, kernel=3)


def test_residual_block_shows_both_paths_and_the_sum():
    ax = sch.draw_residual_block(Figure().subplots())
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "+" in texts and "identity shortcut" in texts and "F(x)" in texts
    assert "unchanged" in texts and ax.get_title()
