"""Interactive explorers for a running notebook, with a still picture for static pages.

* :class:`ConvShapeExplorer`: sliders for the input size, kernel size, stride,
  zero padding and dilation of a convolution; shows the output size and, for a
  chosen output pixel, the input pixels its window reads.
* :class:`FilterExplorer`: a menu of the classic kernels of :mod:`course_lib.filters`,
  applied to a photograph, as a correlation or a true convolution.

Nothing here computes anything of its own: output sizes come from
:func:`course_lib.shapes.conv_output_size`, the pixels a window reads from
:func:`course_lib.functional.im2col`, receptive fields from
:func:`course_lib.shapes.receptive_field`, kernels and filtered images from
:mod:`course_lib.filters`.  This module only wires them to widgets and draws.

Each explorer has

* ``widget``: the ipywidgets box to display; ``controls``: its input widgets by
  name (set ``controls["stride"].value = 2`` and the view updates);
* ``summary`` (an ``HTML`` widget) and ``image`` (an ``Image`` widget holding PNG
  bytes): the outputs, updated on every change;
* ``state``: what is shown now, as plain Python values;
* ``static_html()``: a gallery of pre-rendered settings as self-contained HTML.

Displaying an explorer (the last expression of a cell) sends both the live widget
and the static gallery: Jupyter shows the widget, and a static page, where no
widget can run, shows the gallery (the book drops the widget view, see
``nb_mime_priority_overrides`` in ``_config.yml``).

ipywidgets and matplotlib are imported inside the functions, so importing this
module has no side effects.  Figures are drawn on ``matplotlib.figure.Figure``
(not ``pyplot``), so no stray figure is left in a notebook.
"""
from __future__ import annotations

import abc
import base64
import html as html_lib
import io
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch

from .. import filters
from ..functional.conv import im2col
from ..shapes import conv_output_size, receptive_field
from .images import grey_photo

__all__ = [
    "ConvSetting",
    "ConvWindows",
    "conv_windows",
    "ConvShapeExplorer",
    "FilterExplorer",
    "FILTER_CHOICES",
    "filter_kernel",
    "figure_png",
]


# --------------------------------------------------------------------------- shapes


class ConvSetting(NamedTuple):
    """One square convolution: input ``size`` x ``size``, ``kernel`` x ``kernel``
    taps, ``stride``, ``padding`` zeros on each side, taps ``dilation`` pixels apart."""

    size: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    def label(self) -> str:
        return (f"n={self.size}, k={self.kernel}, s={self.stride}, "
                f"p={self.padding}, d={self.dilation}")


class ConvWindows(NamedTuple):
    """Where the windows of a :class:`ConvSetting` fall.

    ``out``: output size (pixels per side).  ``padded``: side of the padded input.
    ``taps``: (out*out, kernel*kernel) integer array; row ``i*out + j`` lists the
    pixels read by output pixel ``(i, j)`` as flat indices ``r * padded + c`` into
    the padded input.  ``field``: receptive field of one output pixel (pixels per side).
    """

    out: int
    padded: int
    taps: np.ndarray
    field: int


def conv_windows(setting: ConvSetting) -> ConvWindows:
    """The input pixels every output pixel of a square convolution reads.

    The windows are not worked out here: the padded input is filled with its own
    pixel numbers and passed through :func:`course_lib.functional.im2col`, whose
    columns are then exactly the pixel numbers each window reads.

    Raises:
        ValueError: from :func:`course_lib.shapes.conv_output_size` when the
            (dilated) kernel does not fit in the padded input.
    """
    n, k, s, p, d = setting
    out = conv_output_size(n, k, padding=p, stride=s, dilation=d)
    padded = n + 2 * p
    numbers = torch.arange(padded * padded, dtype=torch.float64).reshape(1, 1, padded, padded)
    cols = im2col(numbers, k, stride=s, padding=0, dilation=d)[0]          # (k*k, out*out)
    if cols.shape[1] != out * out:  # the two library routines must agree
        raise AssertionError(f"im2col gave {cols.shape[1]} windows, conv_output_size {out}**2")
    taps = cols.T.round().to(torch.int64).numpy()
    return ConvWindows(out, padded, taps, receptive_field([(k, s, d)]).size)


def figure_png(fig, dpi: int = 80) -> bytes:
    """PNG bytes of a matplotlib figure, on a white background, without a timestamp."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    return buffer.getvalue()


def _png_html(png: bytes, alt: str, note: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<div class="course-lib-explorer">'
            f'<img src="data:image/png;base64,{data}" alt="{html_lib.escape(alt, quote=True)}" '
            f'style="max-width: 100%; height: auto;">'
            f'<p><em>{html_lib.escape(note)}</em></p></div>')


_PADDING, _INPUT, _TAP = 0, 1, 2
_GRID_COLOURS = ["#d9d9d9", "#dbe9f6", "#f28e2b"]   # padding grey, input light blue, tap orange


def _draw_input(ax, setting: ConvSetting, windows: ConvWindows, position: int, *, numbers: bool):
    """The padded input, with the taps of window ``position`` in orange."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Rectangle

    n, k, s, p, d = setting
    grid = np.full((windows.padded, windows.padded), _PADDING)
    grid[p:p + n, p:p + n] = _INPUT
    taps = windows.taps[position]
    grid.reshape(-1)[taps] = _TAP
    ax.imshow(grid, cmap=ListedColormap(_GRID_COLOURS), vmin=0, vmax=2)
    rows, cols = np.divmod(taps, windows.padded)
    ax.add_patch(Rectangle((cols.min() - 0.5, rows.min() - 0.5), cols.max() - cols.min() + 1,
                           rows.max() - rows.min() + 1, fill=False, edgecolor="black", linewidth=2))
    if numbers and windows.padded <= 12:  # number the input pixels in reading order
        for r in range(n):
            for c in range(n):
                ax.text(c + p, r + p, f"{r * n + c}", ha="center", va="center", fontsize=6)
    ax.set_xticks(np.arange(windows.padded + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(windows.padded + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)


def _draw_output(ax, windows: ConvWindows, position: int):
    from matplotlib.colors import ListedColormap

    grid = np.full((windows.out, windows.out), _INPUT)
    grid.reshape(-1)[position] = _TAP
    ax.imshow(grid, cmap=ListedColormap(_GRID_COLOURS), vmin=0, vmax=2)
    ax.set_xticks(np.arange(windows.out + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(windows.out + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)


def _shape_figure(setting: ConvSetting, position: int):
    from matplotlib.figure import Figure

    windows = conv_windows(setting)
    fig = Figure(figsize=(7.5, 3.9))
    widths = [windows.padded, max(windows.out, 2)]
    ax_in, ax_out = fig.subplots(1, 2, gridspec_kw={"width_ratios": widths})
    _draw_input(ax_in, setting, windows, position, numbers=True)
    i, j = divmod(position, windows.out)
    pad_note = f", zero padding {setting.padding} (grey)" if setting.padding else ""
    ax_in.set_title(f"input {setting.size}x{setting.size}{pad_note}\n"
                    f"window of output pixel ({i}, {j}) in orange", fontsize=9)
    _draw_output(ax_out, windows, position)
    ax_out.set_title(f"output {windows.out}x{windows.out}", fontsize=9)
    fig.suptitle(setting.label(), fontsize=10)
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.04, top=0.8, wspace=0.2)
    return fig


class _Explorer(abc.ABC):
    """What both explorers share: the widget box, its display and its static gallery."""

    widget: Any
    controls: dict
    summary: Any
    image: Any
    state: dict

    def _build(self, controls: dict, extra: Sequence = ()):
        import ipywidgets as widgets

        self.controls = controls
        self.summary = widgets.HTML()
        self.image = widgets.Image(format="png")
        self.widget = widgets.VBox([widgets.HBox(list(controls.values())[:3]),
                                    widgets.HBox(list(controls.values())[3:]),
                                    *extra, self.summary, self.image])
        for control in controls.values():
            control.observe(self._on_change, names="value")
        self.state = {}
        self._update()

    def _on_change(self, change) -> None:
        self._update()

    @abc.abstractmethod
    def _update(self) -> None:
        """Redraw the summary and image from the controls' values."""

    @abc.abstractmethod
    def static_html(self) -> str:
        """The pre-rendered gallery shown where no kernel runs (the static book)."""

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs) -> dict:
        bundle = dict(self.widget._repr_mimebundle_(include=include, exclude=exclude, **kwargs) or {})
        bundle["text/html"] = self.static_html()
        bundle["text/plain"] = f"{type(self).__name__}: run the notebook to use the sliders"
        return bundle


class ConvShapeExplorer(_Explorer):
    """Sliders for a square convolution's input size, kernel, stride, padding and
    dilation, and for which output pixel to look at.

    The summary gives the output size by :func:`course_lib.shapes.conv_output_size`,
    the formula with the numbers in, and the receptive field of one output pixel;
    the picture shows the padded input with the window of the chosen output pixel
    and the output grid.  A setting where the kernel does not fit is reported in
    the summary (the message of ``conv_output_size``) instead of being drawn.

    Args:
        size, kernel, stride, padding, dilation: the initial setting.
        max_size: largest input size offered by the slider.
    Attributes:
        state: ``{"setting": ConvSetting, "out": int | None, "position": int,
        "taps": list of (row, col) in the padded input, "field": int | None,
        "error": str | None}``.
    """

    GALLERY = (ConvSetting(7, 3), ConvSetting(7, 3, padding=1), ConvSetting(7, 3, stride=2, padding=1),
               ConvSetting(7, 3, padding=2), ConvSetting(7, 3, dilation=2), ConvSetting(8, 3, stride=3))

    def __init__(self, size: int = 7, kernel: int = 3, stride: int = 1, padding: int = 0,
                 dilation: int = 1, *, max_size: int = 12):
        import ipywidgets as widgets

        def slider(name, value, low, high):
            return widgets.IntSlider(value=value, min=low, max=high, description=name,
                                     continuous_update=False)

        controls = {
            "size": slider("input n", size, 1, max_size),
            "kernel": slider("kernel k", kernel, 1, 7),
            "stride": slider("stride s", stride, 1, 4),
            "padding": slider("padding p", padding, 0, 3),
            "dilation": slider("dilation d", dilation, 1, 3),
            "position": slider("output pixel", 0, 0, 0),
        }
        self._updating = False
        self._build(controls)

    @property
    def setting(self) -> ConvSetting:
        c = self.controls
        return ConvSetting(c["size"].value, c["kernel"].value, c["stride"].value,
                           c["padding"].value, c["dilation"].value)

    def _update(self) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            self._show()
        finally:
            self._updating = False

    def _show(self) -> None:
        setting = self.setting
        position_slider = self.controls["position"]
        try:
            windows = conv_windows(setting)
        except ValueError as err:
            position_slider.max = position_slider.value = 0
            self.state = {"setting": setting, "out": None, "position": 0, "taps": [],
                          "field": None, "error": str(err)}
            self.summary.value = (f"<b>No output:</b> <span style='color:#b00020'>"
                                  f"{html_lib.escape(str(err))}</span>")
            self.image.value = b""
            return
        position_slider.max = windows.out ** 2 - 1
        position = min(position_slider.value, position_slider.max)
        position_slider.value = position
        n, k, s, p, d = setting
        rows, cols = np.divmod(windows.taps[position], windows.padded)
        self.state = {"setting": setting, "out": windows.out, "position": position,
                      "taps": list(zip(rows.tolist(), cols.tolist())), "field": windows.field,
                      "error": None}
        self.summary.value = (
            f"output size = &lfloor;(n + 2p &minus; d(k &minus; 1) &minus; 1) / s&rfloor; + 1 = "
            f"&lfloor;({n} + {2 * p} &minus; {d * (k - 1)} &minus; 1) / {s}&rfloor; + 1 = "
            f"<b>{windows.out}</b>, so the output is {windows.out} &times; {windows.out}; "
            f"each output pixel sees {windows.field} &times; {windows.field} input pixels.")
        self.image.value = figure_png(_shape_figure(setting, position))

    def static_html(self, settings: Sequence[ConvSetting] | None = None) -> str:
        """A gallery of settings (default :attr:`GALLERY`), each with the window of
        its first output pixel, as an HTML ``<img>`` with alt text."""
        from matplotlib.figure import Figure

        settings = tuple(settings or self.GALLERY)
        columns = min(3, len(settings))
        rows = -(-len(settings) // columns)
        fig = Figure(figsize=(3.3 * columns, 3.6 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, columns)).reshape(-1)
        descriptions = []
        for ax, setting in zip(axes, settings):
            windows = conv_windows(setting)
            _draw_input(ax, setting, windows, 0, numbers=False)
            ax.set_title(f"{setting.label()}\noutput {windows.out}x{windows.out}", fontsize=9)
            descriptions.append(f"{setting.label()} gives {windows.out} by {windows.out}")
        for ax in axes[len(settings):]:
            ax.set_axis_off()
        fig.suptitle("Where the first window falls: input (blue), zero padding (grey), "
                     "pixels read (orange)", fontsize=10)
        alt = ("Grids of input pixels for several convolution settings, the zero padding in grey "
               "and the pixels read by the first window in orange: " + "; ".join(descriptions) + ".")
        return _png_html(figure_png(fig), alt,
                         "Pre-computed settings; in a running notebook the sliders above "
                         "choose any setting and any output pixel.")


# --------------------------------------------------------------------------- filters


#: The kernels the filter explorer offers: name -> function(size, sigma) -> (K, K) tensor.
FILTER_CHOICES: dict[str, Callable[[int, float], torch.Tensor]] = {
    "identity": lambda size, sigma: filters.box_kernel(1, dtype=torch.float64),
    "box": lambda size, sigma: filters.box_kernel(size, dtype=torch.float64),
    "Gaussian": lambda size, sigma: filters.gaussian_kernel(size, sigma, dtype=torch.float64),
    "Sobel x": lambda size, sigma: filters.sobel_kernels(dtype=torch.float64)[0],
    "Sobel y": lambda size, sigma: filters.sobel_kernels(dtype=torch.float64)[1],
    "Prewitt x": lambda size, sigma: filters.prewitt_kernels(dtype=torch.float64)[0],
    "Prewitt y": lambda size, sigma: filters.prewitt_kernels(dtype=torch.float64)[1],
    "Laplacian": lambda size, sigma: filters.laplacian_kernel(dtype=torch.float64),
    "Laplacian, diagonal": lambda size, sigma: filters.laplacian_kernel(diagonal=True, dtype=torch.float64),
}


def filter_kernel(name: str, size: int = 5, sigma: float = 1.0) -> torch.Tensor:
    """The kernel called ``name`` in :data:`FILTER_CHOICES` ((K, K) float64 tensor).

    ``size`` applies to the box and the Gaussian, ``sigma`` (pixels) to the Gaussian;
    the edge detectors are 3 x 3 whatever ``size`` is.
    """
    if name not in FILTER_CHOICES:
        raise ValueError(f"unknown filter {name!r}; choose one of {list(FILTER_CHOICES)}")
    return FILTER_CHOICES[name](size, sigma)


def _default_photo() -> np.ndarray:
    """scikit-image's cameraman photograph (it ships with the package), 512 x 512
    shrunk to 128 x 128 by block averaging, grey values in [0, 1]."""
    return grey_photo("camera", 4).numpy()


def _is_signed(kernel: torch.Tensor) -> bool:
    """A kernel whose weights sum to about zero (an edge detector) gives signed output."""
    return abs(float(kernel.sum())) < 1e-9


def _draw_filtered(ax, image: np.ndarray, signed: bool):
    if signed:
        limit = float(np.percentile(np.abs(image), 99)) or 1.0
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


class FilterExplorer(_Explorer):
    """Pick a classic kernel and see it applied to a photograph.

    Controls: the filter (:data:`FILTER_CHOICES`), the size of the box and Gaussian
    kernels, the Gaussian's sigma, and whether to flip the kernel (true convolution,
    :func:`course_lib.filters.convolve2d`) or not (cross-correlation, what a layer
    computes, :func:`course_lib.filters.correlate2d`).  The output has the size of
    the input (``mode="same"``, zero padding).  Signed responses (kernels summing to
    zero) are drawn red for positive and blue for negative.

    Args:
        image: (H, W) grey image with values in [0, 1]; default: the cameraman
            photograph of scikit-image, 128 x 128.
        name, size, sigma, flip: the initial setting.
    Attributes:
        state: ``{"name", "size", "sigma", "flip", "kernel": (K, K) ndarray,
        "output": (H, W) ndarray}``.
    """

    GALLERY = ("box", "Gaussian", "Sobel x", "Sobel y", "Prewitt x", "Laplacian")

    def __init__(self, image=None, *, name: str = "Sobel x", size: int = 5, sigma: float = 1.5,
                 flip: bool = False):
        import ipywidgets as widgets

        self.photo = _default_photo() if image is None else np.asarray(image, dtype=np.float64)
        self._subject = "a photograph of a cameraman" if image is None else "the image"
        if self.photo.ndim != 2:
            raise ValueError(f"image must be a 2-d (H, W) grey image, got shape {self.photo.shape}")
        filter_kernel(name)  # fail early on an unknown name
        controls = {
            "name": widgets.Dropdown(options=list(FILTER_CHOICES), value=name, description="filter"),
            "size": widgets.IntSlider(value=size, min=1, max=15, step=2, description="size",
                                      continuous_update=False),
            "sigma": widgets.FloatSlider(value=sigma, min=0.5, max=5.0, step=0.5, description="sigma",
                                         continuous_update=False),
            "flip": widgets.Checkbox(value=flip, description="flip kernel (true convolution)"),
        }
        self._build(controls)

    def _apply(self, kernel: torch.Tensor, flip: bool) -> np.ndarray:
        operation = filters.convolve2d if flip else filters.correlate2d
        return np.asarray(operation(self.photo, kernel.numpy(), "same"))

    def _update(self) -> None:
        from matplotlib.figure import Figure

        from .animations import draw_matrix

        c = self.controls
        name, size, sigma, flip = c["name"].value, c["size"].value, c["sigma"].value, c["flip"].value
        kernel = filter_kernel(name, size, sigma)
        output = self._apply(kernel, flip)
        self.state = {"name": name, "size": size, "sigma": sigma, "flip": flip,
                      "kernel": kernel.numpy(), "output": output}
        operation = "convolution (kernel flipped)" if flip else "cross-correlation"
        self.summary.value = (f"<b>{html_lib.escape(name)}</b>, {kernel.shape[0]} &times; "
                              f"{kernel.shape[1]} kernel, weights summing to {float(kernel.sum()):.3g}; "
                              f"{operation} with zero padding, output {output.shape[0]} &times; "
                              f"{output.shape[1]}.")
        fig = Figure(figsize=(9.0, 3.3))
        ax_k, ax_in, ax_out = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.3, 1.3]})
        if kernel.shape[0] <= 7:
            draw_matrix(ax_k, kernel, fmt="{:.2g}", fontsize=7, title="kernel")
        else:
            ax_k.imshow(kernel.numpy(), cmap="Blues")
            ax_k.set_title("kernel", fontsize=9)
            ax_k.set_xticks([])
            ax_k.set_yticks([])
        _draw_filtered(ax_in, self.photo, signed=False)
        ax_in.set_title("photograph", fontsize=9)
        _draw_filtered(ax_out, output, signed=_is_signed(kernel))
        ax_out.set_title(f"{name}, {operation.split(' ')[0]}", fontsize=9)
        fig.subplots_adjust(left=0.02, right=0.98, bottom=0.04, top=0.86, wspace=0.15)
        self.image.value = figure_png(fig)

    def static_html(self, names: Sequence[str] | None = None) -> str:
        """The photograph filtered by each kernel in ``names`` (default :attr:`GALLERY`),
        with the current size and sigma, as an HTML ``<img>`` with alt text."""
        from matplotlib.figure import Figure

        names = tuple(names or self.GALLERY)
        size, sigma = self.controls["size"].value, self.controls["sigma"].value
        panels = [("photograph", self.photo, False)]
        for name in names:
            kernel = filter_kernel(name, size, sigma)
            panels.append((name, self._apply(kernel, flip=False), _is_signed(kernel)))
        columns = 4 if len(panels) > 4 else len(panels)
        rows = -(-len(panels) // columns)
        fig = Figure(figsize=(2.6 * columns, 2.9 * rows), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, columns)).reshape(-1)
        for ax, (name, image, signed) in zip(axes, panels):
            _draw_filtered(ax, image, signed)
            ax.set_title(name, fontsize=9)
        for ax in axes[len(panels):]:
            ax.set_axis_off()
        fig.suptitle(f"Classic kernels correlated with a photograph (box and Gaussian: size {size}, "
                     f"Gaussian sigma {sigma:g})", fontsize=10)
        alt = (f"Grey panels: {self._subject} and its correlation with the kernels "
               + ", ".join(names) + "; smoothing kernels give blurred grey images, edge "
               "detectors red and blue outlines.")
        return _png_html(figure_png(fig), alt,
                         "Pre-computed filters; in a running notebook the menu above applies "
                         "any of them, with any size and sigma, flipped or not.")
