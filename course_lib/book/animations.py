"""Pictures of a convolution: small matrices with their values written in, and an
animation of a kernel sliding over an input that plays in a static web page.

The numbers drawn come from the layers of :mod:`course_lib.functional`; this
module only draws them.  matplotlib is imported inside the functions, so
importing the module has no side effects.  Figures are built with
``matplotlib.figure.Figure`` (not ``pyplot``), so an animation never leaves an
extra static figure behind in a notebook.
"""
from __future__ import annotations

import hashlib
import html as html_lib
import re
from typing import NamedTuple

import numpy as np
import torch

from ..functional.conv import conv2d_forward
from ..shapes import _pair

__all__ = ["SlideFrame", "kernel_slide_frames", "draw_matrix", "kernel_slide_animation", "animation_html"]


class SlideFrame(NamedTuple):
    """One position of the kernel: output pixel ``(i, j)`` reads the window of
    the *padded* input whose top-left corner is ``(top, left)``; ``value`` is
    the output there (from :func:`course_lib.functional.conv2d_forward`)."""

    i: int
    j: int
    top: int
    left: int
    value: float


def _as_2d(name: str, a) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
    if t.dim() != 2:
        raise ValueError(f"{name} must be 2-d (H, W), got shape {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float64)


def kernel_slide_frames(x, w, *, stride=1, padding=0) -> list[SlideFrame]:
    """The positions a kernel visits, in reading order, with the output at each.

    Args:
        x: (H, W) input (tensor, array or nested list).
        w: (KH, KW) kernel.
        stride, padding: int or (height, width) pair; ``padding`` zeros on each side.
    Returns:
        ``OH * OW`` :class:`SlideFrame` s; frame ``i * OW + j`` is output pixel
        ``(i, j)``, whose window starts at ``(i * sh, j * sw)`` of the padded input.
    """
    x, w = _as_2d("x", x), _as_2d("w", w)
    (sh, sw), padding = _pair("stride", stride, 1), _pair("padding", padding, 0)
    out, _ = conv2d_forward(x[None, None], w[None, None], stride=(sh, sw), padding=padding)
    out = out[0, 0]
    return [SlideFrame(i, j, i * sh, j * sw, float(out[i, j]))
            for i in range(out.shape[0]) for j in range(out.shape[1])]


def draw_matrix(ax, a, *, title: str | None = None, fmt: str = "{:g}", cmap: str = "RdBu_r",
                vmin: float | None = None, vmax: float | None = None, grey=None, fontsize: float = 9):
    """Draw a small matrix as a heatmap with every value written in its cell.

    Args:
        ax: a matplotlib Axes.
        a: (H, W) tensor or array; NaN cells are left blank (white).
        title: the Axes title.
        fmt: format of the numbers, e.g. ``"{:.2f}"``.
        cmap: colour map; by default the colour scale is symmetric about 0
            (``vmin = -vmax``), so that zero is white and signs are red or blue.
        vmin, vmax: colour limits (default: symmetric, from the data).
        grey: optional (H, W) boolean mask of cells drawn in light grey
            (zero padding, for example), whatever their value.
        fontsize: size of the numbers.
    Returns:
        The list of Text objects, one per cell in reading order.
    """
    a = _as_2d("a", a).numpy()
    finite = a[np.isfinite(a)]
    if vmax is None:
        vmax = float(np.abs(finite).max()) if finite.size else 1.0
        vmax = vmax or 1.0
    if vmin is None:
        vmin = -vmax
    import matplotlib

    colours = matplotlib.colormaps[cmap].with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(a), cmap=colours, vmin=vmin, vmax=vmax)
    if grey is not None:
        mask = np.asarray(grey, dtype=bool)
        if mask.shape != a.shape:
            raise ValueError(f"grey must have the shape of the matrix {a.shape}, got {mask.shape}")
        overlay = np.zeros(a.shape + (4,))
        overlay[mask] = (0.85, 0.85, 0.85, 1.0)
        ax.imshow(overlay)
    texts = []
    for (r, c), value in np.ndenumerate(a):
        shade = 0.0 if not np.isfinite(value) else abs(value) / max(abs(vmin), abs(vmax), 1e-300)
        colour = "white" if shade > 0.6 and (grey is None or not grey[r][c]) else "black"
        label = "" if not np.isfinite(value) else fmt.format(value)
        texts.append(ax.text(c, r, label, ha="center", va="center", fontsize=fontsize, color=colour))
    ax.set_xticks(range(a.shape[1]))
    ax.set_yticks(range(a.shape[0]))
    ax.tick_params(length=0, labelsize=max(fontsize - 2, 5))
    ax.set_xticks(np.arange(a.shape[1] + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(a.shape[0] + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="minor", length=0)
    if title:
        ax.set_title(title, fontsize=fontsize + 1)
    return texts


def kernel_slide_animation(x, w, *, stride=1, padding=0, interval: int = 900, dpi: int = 64,
                           figsize: tuple[float, float] = (8.0, 3.4)):
    """Animate a convolution layer (cross-correlation, as in every deep-learning
    library) computing one output pixel per frame.

    Left: the input, with the zero padding in grey and the kernel's current
    window outlined; middle: the kernel; right: the output, filled in as the
    kernel moves.  The title of each frame writes out the output pixel.

    Args:
        x: (H, W) input; small integers read best.
        w: (KH, KW) kernel.
        stride, padding: int or (height, width) pair.
        interval: milliseconds per frame when played.
        dpi: resolution of the frames (low keeps the page light).
        figsize: figure size in inches.
    Returns:
        A ``matplotlib.animation.FuncAnimation`` with ``OH * OW`` frames (see
        :func:`kernel_slide_frames`); render it with :func:`animation_html`.
    """
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    x, w = _as_2d("x", x), _as_2d("w", w)
    (sh, sw), (ph, pw) = _pair("stride", stride, 1), _pair("padding", padding, 0)
    frames = kernel_slide_frames(x, w, stride=(sh, sw), padding=(ph, pw))
    kh, kw = w.shape
    oh, ow = frames[-1].i + 1, frames[-1].j + 1
    xp = x.new_zeros(x.shape[0] + 2 * ph, x.shape[1] + 2 * pw)
    xp[ph:ph + x.shape[0], pw:pw + x.shape[1]] = x
    padding = np.ones(tuple(xp.shape), dtype=bool)
    padding[ph:ph + x.shape[0], pw:pw + x.shape[1]] = False
    outputs = np.array([f.value for f in frames]).reshape(oh, ow)
    out_max = float(np.abs(outputs).max()) or 1.0

    fig = Figure(figsize=figsize, dpi=dpi)
    widths = [xp.shape[1], kw, ow]
    ax_in, ax_k, ax_out = fig.subplots(1, 3, gridspec_kw={"width_ratios": widths})
    pad_note = f", padded by {ph}" if ph or pw else ""
    in_max = float(xp.abs().max()) or 1.0
    draw_matrix(ax_in, xp, title=f"input {tuple(x.shape)}{pad_note}", grey=padding if ph or pw else None,
                cmap="Blues", vmin=0.0, vmax=4 * in_max)
    draw_matrix(ax_k, w, title=f"kernel {tuple(w.shape)}")
    blank = np.full((oh, ow), np.nan)
    out_texts = draw_matrix(ax_out, blank, title=f"output {(oh, ow)}, stride {sh}", vmax=out_max)
    out_image = ax_out.images[0]
    window = Rectangle((-0.5, -0.5), kw, kh, fill=False, edgecolor="black", linewidth=3)
    cell = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="black", linewidth=3)
    ax_in.add_patch(window)
    ax_out.add_patch(cell)
    heading = fig.suptitle("", fontsize=11)
    fig.subplots_adjust(left=0.03, right=0.99, bottom=0.06, top=0.8, wspace=0.25)

    def draw(k: int):
        frame = frames[k]
        window.set_xy((frame.left - 0.5, frame.top - 0.5))
        cell.set_xy((frame.j - 0.5, frame.i - 0.5))
        shown = np.full((oh, ow), np.nan)
        shown.reshape(-1)[:k + 1] = outputs.reshape(-1)[:k + 1]
        out_image.set_data(np.ma.masked_invalid(shown))
        for n, text in enumerate(out_texts):
            text.set_text(f"{outputs.reshape(-1)[n]:g}" if n <= k else "")
            text.set_color("white" if abs(outputs.reshape(-1)[n]) / out_max > 0.6 else "black")
        heading.set_text(f"output[{frame.i}, {frame.j}] = sum of window × kernel = {frame.value:g};  "
                         f"window at row {frame.top}, column {frame.left}")
        return [window, cell, out_image, heading, *out_texts]

    return FuncAnimation(fig, draw, frames=len(frames), interval=interval, blit=False, repeat=True)


_ICONS = {  # font-awesome icons of matplotlib's player -> plain characters (no web font needed)
    "fa-minus": "\u2212", "fa-fast-backward": "|\u25c0", "fa-step-backward": "\u25c0|",
    "fa-play fa-flip-horizontal": "\u25c0", "fa-pause": "| |", "fa-play": "\u25b6",
    "fa-step-forward": "|\u25b6", "fa-fast-forward": "\u25b6|", "fa-plus": "+",
}


def animation_html(anim, *, alt: str, name: str = "animation", default_mode: str = "once") -> str:
    """Render an animation as a self-contained HTML player for a static page.

    ``anim.to_jshtml()`` embeds every frame as a PNG data URI, but its player
    loads an icon font from a CDN and its ``<img>`` has no text alternative and
    a random id.  The returned HTML has no remote reference, plain-character
    button labels, ``alt`` text, the first frame as the image's initial
    ``src``, and an id derived from ``name`` (the same on every build).

    Args:
        anim: a ``matplotlib.animation.Animation``.
        alt: text alternative of the animation (what it shows).
        name: used to make the element ids; one per animation on a page.
        default_mode: "once", "loop" or "reflect".
    Returns:
        An HTML string, e.g. for ``IPython.display.HTML``.
    Raises:
        RuntimeError: if matplotlib's template changed so that a remote
            reference would remain.
    """
    text = anim.to_jshtml(default_mode=default_mode)
    fig = getattr(anim, "_fig", None)
    if fig is not None and getattr(fig, "canvas", None) is not None and hasattr(fig.canvas, "manager"):
        manager = fig.canvas.manager
        if manager is not None:  # a pyplot figure: close it so that it is not shown again as a still
            import matplotlib.pyplot as plt
            plt.close(fig)
    text = re.sub(r"<link[^>]*font-awesome[^>]*>", "", text)
    for icon, label in sorted(_ICONS.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f'<i class="fa {icon}"></i>', html_lib.escape(label))
    old_id = re.search(r'id="_anim_img([0-9a-f]+)"', text)
    if old_id is None:
        raise RuntimeError("matplotlib's animation template changed: no _anim_img element found")
    new_id = hashlib.sha1(name.encode()).hexdigest()[:16]
    text = text.replace(old_id.group(1), new_id)
    first = re.search(r'frames\[0\] = "(data:image/[a-z]+;base64,[^"]*)"', text)
    src = ""
    if first:
        # matplotlib breaks the base64 text into lines joined by JavaScript line continuations
        # (a backslash before each newline): an HTML attribute needs the bare data URI
        src = ' src="' + re.sub(r"[\\\s]", "", first.group(1)) + '"'
    text = text.replace(f'<input id="_anim_slider{new_id}" type="range"',
                        f'<input id="_anim_slider{new_id}" type="range" aria-label="animation frame"')
    text = text.replace(f'<img id="_anim_img{new_id}">',
                        f'<img id="_anim_img{new_id}" alt="{html_lib.escape(alt, quote=True)}"{src}>')
    if re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", text) or "https://" in text or "http://" in text:
        raise RuntimeError("the animation HTML still refers to a remote resource")
    return text
