"""course_lib.book.animations: the sliding-kernel animation shows the layer's numbers
and renders to HTML that a static, offline page can play."""
import re

import numpy as np
import pytest
import torch

from course_lib.book.animations import animation_html, draw_matrix, kernel_slide_animation, kernel_slide_frames
from course_lib.functional import conv2d_forward

pytestmark = pytest.mark.ch2

X = np.arange(49, dtype=float).reshape(7, 7) % 5
W = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def test_frames_follow_the_layer():
    frames = kernel_slide_frames(X, W, stride=2, padding=1)
    out, _ = conv2d_forward(torch.tensor(X)[None, None], torch.tensor(W)[None, None], stride=2, padding=1)
    assert len(frames) == out.numel() == 16
    assert [(f.i, f.j) for f in frames] == [(i, j) for i in range(4) for j in range(4)]
    assert [(f.top, f.left) for f in frames[:5]] == [(0, 0), (0, 2), (0, 4), (0, 6), (2, 0)]
    np.testing.assert_array_equal([f.value for f in frames], out.flatten().numpy())
    # the window of a frame, read from the padded input, gives its value
    xp = np.pad(X, 1)
    f = frames[6]
    assert f.value == pytest.approx(float((xp[f.top:f.top + 3, f.left:f.left + 3] * W).sum()))


def test_frames_reject_wrong_ranks():
    with pytest.raises(ValueError, match="must be 2-d"):
        kernel_slide_frames(np.ones((1, 4, 4)), W)


def test_draw_matrix_writes_every_value():
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    texts = draw_matrix(ax, [[1.0, -2.5], [float("nan"), 0.0]], fmt="{:.1f}", grey=[[False, True], [False, False]])
    assert [t.get_text() for t in texts] == ["1.0", "-2.5", "", "0.0"]
    with pytest.raises(ValueError, match="grey must have the shape"):
        draw_matrix(ax, np.zeros((2, 2)), grey=np.zeros((3, 3), dtype=bool))


def test_animation_html_is_offline_and_accessible():
    anim = kernel_slide_animation(X[:5, :5], W, stride=2, padding=0, dpi=30, figsize=(5, 2))   # 2 x 2 = 4 frames
    html = animation_html(anim, alt="A kernel slides over an input.", name="unit-test")
    assert "http://" not in html and "https://" not in html and "font-awesome" not in html
    assert 'class="fa' not in html
    assert len(re.findall(r'frames\[\d+\] = "data:image/png;base64,', html)) == 4
    img = re.search(r"<img [^>]*>", html).group(0)
    assert 'alt="A kernel slides over an input."' in img
    src = re.search(r'src="([^"]*)"', img).group(1)
    assert re.fullmatch(r"data:image/png;base64,[A-Za-z0-9+/=]+", src), "the first frame must be a valid data URI"
    # ids do not depend on chance: the same name gives the same HTML
    again = animation_html(kernel_slide_animation(X[:5, :5], W, stride=2, dpi=30, figsize=(5, 2)),
                           alt="A kernel slides over an input.", name="unit-test")
    assert re.findall(r'id="(_anim_img\w+)"', html) == re.findall(r'id="(_anim_img\w+)"', again)
