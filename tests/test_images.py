"""course_lib.book.images: the sample photographs in grey, and the panels the pages draw."""
import numpy as np
import pytest
import torch

from course_lib.book.images import PHOTOS, grey_photo, show_images, show_matrices

pytestmark = pytest.mark.ch3


@pytest.fixture
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    yield pyplot
    pyplot.close("all")


@pytest.mark.parametrize("name", PHOTOS)
def test_every_photo_is_grey_in_unit_range(name):
    photo = grey_photo(name, 4)
    assert photo.dtype == torch.float64 and photo.dim() == 2
    assert 0.0 <= float(photo.min()) and float(photo.max()) <= 1.0


def test_shrinking_averages_whole_blocks_and_drops_the_remainder():
    from skimage import data
    from skimage.color import rgb2gray

    full = torch.from_numpy(rgb2gray(data.chelsea()))          # (300, 451)
    small = grey_photo("chelsea", 2)
    assert tuple(small.shape) == (150, 225)
    torch.testing.assert_close(small[-1, -1], full[298:300, 448:450].mean())
    torch.testing.assert_close(grey_photo("chelsea"), full)
    camera = grey_photo("camera", 3)
    assert tuple(camera.shape) == (170, 170)
    torch.testing.assert_close(camera[0, 0], torch.tensor(data.camera()[:3, :3] / 255.0).mean())


def test_grey_photo_argument_errors():
    with pytest.raises(ValueError, match="unknown photograph 'lena'"):
        grey_photo("lena")
    for factor in (0, 2.0, True):
        with pytest.raises(ValueError, match="factor must be a positive integer"):
            grey_photo("camera", factor)
    with pytest.raises(ValueError, match="larger than the photograph"):
        grey_photo("camera", 1000)


def test_show_matrices_draws_every_value_in_square_cells(plt):
    a, b = np.arange(6.0).reshape(2, 3), -np.ones((4, 1))
    fig = show_matrices([(a, "a"), (torch.tensor(b), "b")], "two matrices", fmt="{:.1f}")
    ax_a, ax_b = fig.axes
    assert fig._suptitle.get_text() == "two matrices"
    assert [t.get_text() for t in ax_a.texts] == [f"{v:.1f}" for v in range(6)]
    assert [t.get_text() for t in ax_b.texts] == ["-1.0"] * 4
    assert ax_a.get_title() == "a" and ax_a.get_xlabel() == "column" and ax_b.get_ylabel() == "row"
    fig.canvas.draw()
    (wa, ha), (wb, hb) = (abs(np.diff(ax.transData.transform([(0, 0), (1, 1)]), axis=0).ravel())
                          for ax in (ax_a, ax_b))
    assert wa == pytest.approx(ha) and wb == pytest.approx(hb)              # square cells
    assert wa >= wb * 0.95         # the taller matrix fills the height; the shorter is not drawn smaller


def test_show_images_fills_a_grid_and_hides_the_empty_places(plt):
    panels = [(np.zeros((4, 5)), "zeros"), (np.eye(4), "eye", {"vmin": 0, "vmax": 2}), (np.ones((3, 3)), "ones")]
    fig = show_images(panels, "three images", columns=2)
    axes = fig.axes
    assert len(axes) == 4 and not axes[3].axison
    assert [ax.get_title() for ax in axes[:3]] == ["zeros", "eye", "ones"]
    assert axes[1].images[0].get_clim() == (0, 2)
    assert all(ax.get_xlabel() == "column (pixel)" for ax in axes[:3])


def test_panels_must_be_pictures(plt):
    with pytest.raises(ValueError, match="at least one"):
        show_images([], "nothing")
    with pytest.raises(ValueError, match=r"panel 1 \('v'\) must be 2-d"):
        show_matrices([(np.eye(2), "m"), (np.ones(3), "v")], "bad")
