"""course_lib.book.widgets: the explorers are driven the way a student drives them, by
setting a control's value, and their summary, picture and state must follow; their
static gallery is a self-contained picture that a page without widgets can show."""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from course_lib import filters
from course_lib.book.widgets import (
    FILTER_CHOICES,
    ConvSetting,
    ConvShapeExplorer,
    FilterExplorer,
    conv_windows,
    filter_kernel,
)
from course_lib.shapes import conv_output_size, receptive_field

pytestmark = pytest.mark.ch2

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def windows_by_hand(n, k, s, p, d):
    """Independent statement of the windows: output (i, j) reads padded pixels
    (i*s + d*u, j*s + d*v) for u, v in range(k)."""
    out = (n + 2 * p - d * (k - 1) - 1) // s + 1
    return [[(i * s + d * u, j * s + d * v) for u in range(k) for v in range(k)]
            for i in range(out) for j in range(out)]


def check_gallery(html: str) -> None:
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="[^"]{40,}"', html), html[:300]
    assert "http://" not in html and "https://" not in html and "<script" not in html


# -- conv_windows ------------------------------------------------------------------------

@pytest.mark.parametrize("setting", [(7, 3, 1, 0, 1), (7, 3, 2, 1, 1), (8, 3, 3, 0, 1), (7, 3, 1, 0, 2),
                                     (5, 2, 1, 2, 3), (1, 1, 1, 0, 1), (9, 4, 2, 1, 2)])
def test_conv_windows_match_the_definition(setting):
    n, k, s, p, d = setting
    windows = conv_windows(ConvSetting(*setting))
    assert windows.out == conv_output_size(n, k, padding=p, stride=s, dilation=d)
    assert windows.padded == n + 2 * p
    assert windows.field == receptive_field([(k, s, d)]).size
    taps = [[tuple(divmod(int(t), windows.padded)) for t in row] for row in windows.taps]
    assert taps == windows_by_hand(n, k, s, p, d)


def test_conv_windows_reject_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        conv_windows(ConvSetting(3, 5))


def test_importing_widgets_has_no_side_effects():
    code = ("import sys, course_lib.book.widgets; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib.pyplot', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]" and out.stderr == ""


# -- ConvShapeExplorer -------------------------------------------------------------------

@pytest.fixture(scope="module")
def shape_explorer():
    return ConvShapeExplorer(size=7, kernel=3)


def test_shape_explorer_starts_from_its_arguments(shape_explorer):
    e = shape_explorer
    assert e.state["setting"] == ConvSetting(7, 3, 1, 0, 1)
    assert e.state["out"] == 5 and e.state["error"] is None
    assert e.controls["position"].max == 24
    assert e.state["taps"] == windows_by_hand(7, 3, 1, 0, 1)[0]
    assert bytes(e.image.value).startswith(PNG_MAGIC)
    assert "<b>5</b>" in e.summary.value


def test_shape_explorer_follows_its_sliders():
    e = ConvShapeExplorer(size=7, kernel=3)
    before = bytes(e.image.value)
    e.controls["stride"].value = 2
    e.controls["padding"].value = 1
    assert e.state["setting"] == ConvSetting(7, 3, 2, 1, 1)
    assert e.state["out"] == 4 and "<b>4</b>" in e.summary.value
    assert e.controls["position"].max == 15
    assert bytes(e.image.value).startswith(PNG_MAGIC) and bytes(e.image.value) != before

    e.controls["position"].value = 6                    # output pixel (1, 2)
    assert e.state["position"] == 6
    assert e.state["taps"] == windows_by_hand(7, 3, 2, 1, 1)[6]
    assert e.state["taps"][0] == (2, 4)

    e.controls["dilation"].value = 2                    # 3 outputs per side: position clipped
    assert e.state["out"] == 3 and e.controls["position"].max == 8
    assert e.state["position"] == e.controls["position"].value <= 8
    assert e.state["field"] == 5 and "5 &times; 5 input pixels" in e.summary.value


def test_shape_explorer_reports_an_impossible_setting_and_recovers():
    e = ConvShapeExplorer(size=4, kernel=3)
    e.controls["kernel"].value = 7
    assert e.state["out"] is None
    assert "does not fit" in e.state["error"] and "does not fit" in e.summary.value
    assert bytes(e.image.value) == b"" and e.controls["position"].max == 0
    e.controls["padding"].value = 2                         # 4 + 4 = 8 >= 7: fits again
    assert e.state["error"] is None and e.state["out"] == 2
    assert bytes(e.image.value).startswith(PNG_MAGIC)


def test_shape_explorer_display_carries_widget_and_static_picture(shape_explorer):
    bundle = shape_explorer._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and "model_id" in bundle[WIDGET_VIEW]
    check_gallery(bundle["text/html"])
    assert "run the notebook" in bundle["text/plain"]


def test_shape_gallery_is_reproducible(shape_explorer):
    html = shape_explorer.static_html([ConvSetting(7, 3), ConvSetting(7, 3, dilation=2)])
    check_gallery(html)
    assert "gives 5 by 5" in html and "gives 3 by 3" in html
    assert html == shape_explorer.static_html([ConvSetting(7, 3), ConvSetting(7, 3, dilation=2)])


# -- FilterExplorer ----------------------------------------------------------------------

IMAGE = np.random.default_rng(0).random((24, 20))


def test_filter_kernel_names_every_choice():
    for name in FILTER_CHOICES:
        kernel = filter_kernel(name, size=5, sigma=1.0)
        assert kernel.dim() == 2 and kernel.dtype == torch.float64
    torch.testing.assert_close(filter_kernel("Sobel y"), filters.sobel_kernels(dtype=torch.float64)[1])
    assert filter_kernel("Gaussian", size=7).shape == (7, 7)
    with pytest.raises(ValueError, match="unknown filter"):
        filter_kernel("emboss")


def test_filter_explorer_follows_its_controls():
    e = FilterExplorer(IMAGE, name="Sobel x")
    sobel_x = filters.sobel_kernels()[0].numpy()
    np.testing.assert_allclose(e.state["output"], filters.correlate2d(IMAGE, sobel_x, "same"))
    first = bytes(e.image.value)
    assert bytes(first).startswith(PNG_MAGIC) and "Sobel x" in e.summary.value

    e.controls["flip"].value = True                    # true convolution: the antisymmetric kernel changes sign
    assert e.state["flip"] and "convolution (kernel flipped)" in e.summary.value
    np.testing.assert_allclose(e.state["output"], -filters.correlate2d(IMAGE, sobel_x, "same"))

    e.controls["flip"].value = False
    e.controls["name"].value = "Gaussian"
    e.controls["size"].value = 9
    e.controls["sigma"].value = 2.0
    assert e.state["kernel"].shape == (9, 9)
    np.testing.assert_allclose(e.state["kernel"], filters.gaussian_kernel(9, 2.0, dtype=torch.float64).numpy())
    np.testing.assert_allclose(e.state["output"], filters.correlate2d(IMAGE, e.state["kernel"], "same"))
    assert e.state["output"].shape == IMAGE.shape
    assert "9 &times; 9 kernel" in e.summary.value and bytes(e.image.value) != first


def test_filter_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match="2-d"):
        FilterExplorer(np.ones((3, 8, 8)))
    with pytest.raises(ValueError, match="unknown filter"):
        FilterExplorer(IMAGE, name="emboss")


def test_filter_explorer_default_photo_and_gallery():
    e = FilterExplorer()                                 # scikit-image's photograph, shipped offline
    assert e.photo.shape == (128, 128) and 0.0 <= e.photo.min() < e.photo.max() <= 1.0
    bundle = e._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    check_gallery(bundle["text/html"])
    assert "cameraman" in bundle["text/html"]
    assert e.static_html(["box"]) == e.static_html(["box"])
