"""Experiments and figures of Chapter 3 (functional layers).

The layers themselves live in :mod:`course_lib.functional` (forward/backward
pairs) and :mod:`course_lib.nn` (modules); this module only combines them
into the measurements the chapter shows:

* :func:`digit_split` and :func:`relative_difference`: the chapter's data (scikit-learn's
  digits, split once) and its one measure of how far a tensor is from another, shared
  by the section pages, each of which runs on its own.
* :func:`plot_activations`: activation functions and their derivatives side by side.
* :func:`deep_mlp` and :func:`train_classifier`: a deep fully connected network
  of course_lib modules and a small, seeded training loop, for comparing
  activations, batch normalization and dropout on the same data.
* :func:`shift_change`: how much a feature map, or its pooled version, changes
  when the input image is shifted by a few pixels.
* :func:`window_coverage`: in how many pooling windows each input pixel lies.
* :func:`plot_normalization_sets`: which values batch, layer, local response
  and local contrast normalization put together.
* :func:`thinned_network_logits`: the outputs of every "thinned" network that
  dropout can sample from one layer.

Importing the module has no side effects; matplotlib is imported only when a
figure is drawn.
"""
from __future__ import annotations

import itertools
import math
from typing import Callable, NamedTuple, Sequence

import torch

from .. import functional as F
from .. import nn as ca
from .._checks import check_tensor

__all__ = [
    "DigitSplit",
    "digit_split",
    "relative_difference",
    "ACTIVATIONS",
    "plot_activations",
    "Activation",
    "deep_mlp",
    "train_classifier",
    "accuracy",
    "ShiftChange",
    "shift_change",
    "window_coverage",
    "plot_normalization_sets",
    "all_masks",
    "thinned_network_logits",
]


# ----------------------------------------------------------------------------
# Data and a measure shared by the chapter's pages
# ----------------------------------------------------------------------------

class DigitSplit(NamedTuple):
    """scikit-learn's digits split once into a training and a test set.

    ``X_*: (N, 64)`` float32 pixel values in [0, 1] (the 8 x 8 images, flattened);
    ``y_*: (N,)`` int64 labels 0-9.
    """

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor


def digit_split(n_train: int = 1200, *, seed: int = 0) -> DigitSplit:
    """The 1,797 digits of scikit-learn (nothing downloaded), in a seeded random order,
    the first ``n_train`` for training and the rest for testing.

    Args:
        n_train: number of training examples, 1 to 1,796 (at least one is left to test).
        seed: seed of the permutation; the same seed gives the same split.
    Returns:
        A :class:`DigitSplit` of CPU tensors.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    if isinstance(n_train, bool) or not isinstance(n_train, int) or not 1 <= n_train < len(digits.data):
        raise ValueError(f"n_train must be an integer from 1 to {len(digits.data) - 1}, got {n_train!r}")
    X = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    train, test = order[:n_train], order[n_train:]
    return DigitSplit(X[train], y[train], X[test], y[test])


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - b|| / ||a||`` (Frobenius norms): how far ``b`` is from ``a``, as a fraction
    of ``a``'s size. ``a`` and ``b``: tensors of one shape; ``a`` must not be all zeros."""
    check_tensor("a", a)
    check_tensor("b", b)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    size = a.norm()
    if size == 0:
        raise ValueError("a is all zeros: a difference relative to it is undefined")
    return float((a - b).norm() / size)


# ----------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------

def _leaky_forward(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu_forward(x, negative_slope=0.1)[0]


def _leaky_derivative(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu_derivative(x, negative_slope=0.1)


#: name -> (function, derivative), both elementwise on tensors of any shape,
#: taken from :mod:`course_lib.functional.activations`.  The leaky ReLU uses
#: slope 0.1 for negative inputs so that the slope is visible in a plot.
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "sigmoid": (lambda x: F.sigmoid_forward(x)[0], F.sigmoid_derivative),
    "tanh": (lambda x: F.tanh_forward(x)[0], F.tanh_derivative),
    "relu": (lambda x: F.relu_forward(x)[0], F.relu_derivative),
    "leaky_relu": (_leaky_forward, _leaky_derivative),
}


_LABELS = {"relu": "ReLU", "leaky_relu": "leaky ReLU (slope 0.1)"}


def plot_activations(names: Sequence[str] = ("sigmoid", "tanh", "relu", "leaky_relu"), *,
                     x_range: tuple[float, float] = (-6.0, 6.0), axes=None, num: int = 601):
    """Two panels: the activation functions (left) and their derivatives (right).

    Args:
        names: keys of :data:`ACTIVATIONS`.
        x_range: the pre-activation interval shown (dimensionless).
        axes: two matplotlib Axes, or None for a new figure.
        num: number of points per curve.
    Returns:
        The two Axes.
    """
    import matplotlib.pyplot as plt

    unknown = [n for n in names if n not in ACTIVATIONS]
    if unknown:
        raise ValueError(f"unknown activations {unknown}; choose from {list(ACTIVATIONS)}")
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    x = torch.linspace(*x_range, num, dtype=torch.float64)
    for name in names:
        f, df = ACTIVATIONS[name]
        style = {"label": _LABELS.get(name, name), "ls": "--" if name == "leaky_relu" else "-", "lw": 1.8}
        axes[0].plot(x, f(x), **style)
        axes[1].plot(x, df(x), **style)
    axes[0].set_ylim(-1.5, 3.0)
    axes[0].set_title("Activation functions f(z)")
    axes[0].set_ylabel("f(z)")
    axes[1].set_title("Derivatives f'(z): the local gradient")
    axes[1].set_ylabel("f'(z)")
    for ax, where in zip(axes, ("upper left", "center left")):
        ax.set_xlabel("pre-activation z")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.grid(True, alpha=0.3)
        ax.legend(loc=where)
    return axes


class Activation(torch.nn.Module):
    """An elementwise activation of :mod:`course_lib.nn` as a module.

    ``name``: ``"sigmoid"``, ``"tanh"``, ``"relu"`` or ``"leaky_relu"`` (slope 0.01).
    Any input shape; the output has the same shape.
    """

    _FUNCTIONS = {"sigmoid": ca.sigmoid, "tanh": ca.tanh, "relu": ca.relu, "leaky_relu": ca.leaky_relu}

    def __init__(self, name: str):
        super().__init__()
        if name not in self._FUNCTIONS:
            raise ValueError(f"activation must be one of {list(self._FUNCTIONS)}, got {name!r}")
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._FUNCTIONS[self.name](x)

    def extra_repr(self) -> str:
        return self.name


# ----------------------------------------------------------------------------
# A deep fully connected network and a small training loop
# ----------------------------------------------------------------------------

def deep_mlp(activation: str, *, in_features: int, out_features: int, depth: int, width: int, gain: float = 1.0,
             batchnorm: bool = False, p_keep: float | None = None, seed: int = 0,
             dtype=torch.float32) -> torch.nn.Sequential:
    """A fully connected classifier built from course_lib modules.

    ``depth`` hidden layers, each ``Linear -> [BatchNorm] -> Activation -> [Dropout]``,
    then a ``Linear`` output layer giving ``out_features`` scores.  Every weight
    is drawn from ``N(0, gain^2 / fan_in)`` (so each layer multiplies the size of
    a random vector by about ``gain``) with a seeded generator; biases start at 0.

    Args:
        activation: name accepted by :class:`Activation`.
        in_features, out_features: sizes of the input (N, in_features) and the
            output (N, out_features).
        depth: number of hidden layers (>= 1); width: units per hidden layer.
        gain: weight scale, e.g. 1 for tanh, sqrt(2) for ReLU.
        batchnorm: insert :class:`course_lib.nn.BatchNorm` before each activation.
        p_keep: if given, a :class:`course_lib.nn.Dropout` with this keep
            probability after each activation.
        seed: seed of the weights (and of the dropout masks).
    Returns:
        A ``torch.nn.Sequential`` mapping (N, in_features) to (N, out_features).
    """
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    gen = torch.Generator().manual_seed(seed)
    layers: list[torch.nn.Module] = []
    fan_in = in_features
    for _ in range(depth):
        layers.append(ca.Linear(fan_in, width, dtype=dtype))
        if batchnorm:
            layers.append(ca.BatchNorm(width, dtype=dtype))
        layers.append(Activation(activation))
        if p_keep is not None:
            layers.append(ca.Dropout(p_keep, generator=torch.Generator().manual_seed(seed + 1)))
        fan_in = width
    layers.append(ca.Linear(fan_in, out_features, dtype=dtype))
    with torch.no_grad():
        for layer in layers:
            if isinstance(layer, ca.Linear):
                fan = layer.weight.shape[1]  # torch's layout: (out_features, in_features)
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=gen, dtype=dtype) * gain / math.sqrt(fan))
                layer.bias.zero_()
    return torch.nn.Sequential(*layers)


def accuracy(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows of ``X: (N, D)`` whose highest score is the label ``y: (N,)``, in evaluation mode."""
    was_training = net.training
    net.eval()
    with torch.no_grad():
        result = float((net(X).argmax(dim=1) == y).to(torch.float64).mean())
    net.train(was_training)
    return result


def train_classifier(net: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
                     lr: float, momentum: float = 0.9, seed: int = 0) -> list[float]:
    """Train ``net`` with mini-batch SGD (momentum) on the cross-entropy loss.

    Args:
        net: maps (N, D) to (N, classes) scores.
        X: (N, D) inputs; y: (N,) integer labels.
        epochs: passes over the data; batch_size: examples per step.
        lr, momentum: SGD settings.
        seed: seed of the order in which examples are visited.
    Returns:
        The training loss after each epoch (mean cross-entropy over all of
        ``X``, measured in evaluation mode), ``epochs`` floats.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    history = []
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(X), generator=gen)
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            loss = torch.nn.functional.cross_entropy(net(X[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            history.append(float(torch.nn.functional.cross_entropy(net(X), y)))
    return history


# ----------------------------------------------------------------------------
# Pooling: sensitivity to shifts, window coverage
# ----------------------------------------------------------------------------

class ShiftChange(NamedTuple):
    """How a map changed when the input moved by ``shift`` pixels.

    ``relative_change``: ``||after - before|| / ||before||`` over the whole map.
    ``fraction_unchanged``: among the entries that are non-zero before or
    after, the fraction whose value did not change at all.
    """

    shift: int
    relative_change: float
    fraction_unchanged: float


def shift_change(image: torch.Tensor, feature_fn: Callable[[torch.Tensor], torch.Tensor], *,
                 shifts: Sequence[int], pool: Callable[[torch.Tensor], torch.Tensor] | None = None
                 ) -> list[ShiftChange]:
    """Compare a (pooled) feature map of an image with that of the image shifted sideways.

    The reference is the image without its last ``max(shifts)`` columns; the
    shifted view by ``s`` starts ``s`` columns later, so its content has moved
    ``s`` pixels to the left.  Both views have the same size, so the two maps
    are compared position by position.

    Args:
        image: (H, W) grey image.
        feature_fn: maps a (1, 1, H, W') image to a (1, C, h, w) feature map.
        shifts: non-negative shifts in pixels.
        pool: optional map (1, C, h, w) -> (1, C, h', w') applied to both feature maps.
    Returns:
        One :class:`ShiftChange` per shift.
    """
    check_tensor("image", image, 2)
    shifts = list(shifts)
    if not shifts or min(shifts) < 0:
        raise ValueError(f"shifts must be non-negative pixel counts, got {shifts}")
    width = image.shape[1] - max(shifts)
    if width < 1:
        raise ValueError(f"the image is {image.shape[1]} pixels wide, too narrow for a shift of {max(shifts)}")

    def measure(s: int) -> torch.Tensor:
        out = feature_fn(image[None, None, :, s:s + width])
        return pool(out) if pool is not None else out

    before = measure(0)
    results = []
    for s in shifts:
        after = measure(s)
        if after.shape != before.shape:
            raise ValueError(f"the maps of shift 0 and shift {s} have shapes {tuple(before.shape)} and "
                             f"{tuple(after.shape)}")
        rel = float((after - before).norm() / before.norm())
        active = (before != 0) | (after != 0)
        unchanged = (after == before) & active
        frac = float(unchanged.sum()) / max(int(active.sum()), 1)
        results.append(ShiftChange(s, rel, frac))
    return results


def window_coverage(size: int | tuple[int, int], *, kernel_size: int, stride: int) -> torch.Tensor:
    """How many pooling windows contain each pixel of a ``size`` image.

    Computed with the backward pass of average pooling: sending ``kh * kw`` back
    from every window adds 1 to each pixel of that window.

    Args:
        size: ``n`` or ``(h, w)``, the input size in pixels.
        kernel_size, stride: the pooling windows (no padding).
    Returns:
        (h, w) float64 tensor of window counts; 0 marks pixels no window reaches.
    """
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.zeros(1, 1, h, w, dtype=torch.float64)
    out, cache = F.avg_pool2d_forward(x, kernel_size=kernel_size, stride=stride)
    return F.avg_pool2d_backward(torch.full_like(out, float(kernel_size * kernel_size)), cache)[0, 0]


# ----------------------------------------------------------------------------
# Normalization: which values are normalised together
# ----------------------------------------------------------------------------

def _normalization_sets(n: int, c: int, s: int) -> dict[str, tuple[torch.Tensor, tuple[int, int, int]]]:
    """name -> (boolean (n, c, s) mask of the values pooled for one output, that output's index)."""
    i, j, k = 1, c // 2, s // 2
    sets = {}
    bn = torch.zeros(n, c, s, dtype=torch.bool)
    bn[:, j, :] = True
    sets["Batch norm"] = (bn, (i, j, k))
    ln = torch.zeros(n, c, s, dtype=torch.bool)
    ln[i] = True
    sets["Layer norm"] = (ln, (i, j, k))
    lrn = torch.zeros(n, c, s, dtype=torch.bool)
    lrn[i, max(j - 2, 0):j + 3, k] = True
    sets["Local response norm (n = 5)"] = (lrn, (i, j, k))
    lcn = torch.zeros(n, c, s, dtype=torch.bool)
    lcn[i, :, max(k - 1, 0):k + 2] = True
    sets["Local contrast norm"] = (lcn, (i, j, k))
    return sets


def plot_normalization_sets(*, n: int = 4, c: int = 8, s: int = 6, columns: int = 4, fig=None):
    """Four cubes (batch N x channels C x spatial positions H*W), one per normalization.

    In each cube the blue cells are the values whose statistics normalise the
    dark red cell: batch norm (one channel, every example and position), layer
    norm (one example, everything), local response norm (one example and
    position, 5 neighbouring channels), local contrast norm (one example, all
    channels, a spatial neighbourhood; positions are flattened to one axis).

    Args:
        n, c, s: number of examples, channels and (flattened) positions drawn.
        columns: cubes per row (4: one row; 2: a 2 x 2 grid).
        fig: a matplotlib Figure to draw in, or None for a new one.
    Returns:
        The Figure.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if columns not in (1, 2, 4):
        raise ValueError(f"columns must be 1, 2 or 4, got {columns!r}")
    rows = 4 // columns
    if fig is None:
        fig = plt.figure(figsize=(3 * columns, 3.4 * rows + 0.3))
    for index, (name, (mask, centre)) in enumerate(_normalization_sets(n, c, s).items()):
        ax = fig.add_subplot(rows, columns, index + 1, projection="3d")
        # axes of the drawing: x = example, y = position, z = channel
        m = mask.numpy().transpose(0, 2, 1)
        centre_xyz = (centre[0], centre[2], centre[1])
        filled = m.copy()
        filled[centre_xyz] = True
        colours = np.empty(filled.shape, dtype=object)
        colours[...] = "#6fa8dcc0"
        colours[centre_xyz] = "#a61c00"
        ax.voxels(filled, facecolors=colours, edgecolor="0.35", linewidth=0.4)
        for a, b in itertools.combinations(itertools.product((0, n), (0, s), (0, c)), 2):
            if sum(u != v for u, v in zip(a, b)) == 1:  # the 12 edges of the whole tensor
                ax.plot(*zip(a, b), color="0.4", lw=0.8)
        ax.set_xlim(0, n)
        ax.set_ylim(0, s)
        ax.set_zlim(0, c)
        ax.set_xlabel("example n", labelpad=-8)
        ax.set_ylabel("position (h, w)", labelpad=-8)
        ax.set_zlabel("channel c", labelpad=-8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.set_title(name, fontsize=10)
        ax.view_init(elev=22, azim=-58)
        ax.set_box_aspect((n, s, c))
    fig.suptitle("The values (blue) whose statistics normalise the red value")
    return fig


# ----------------------------------------------------------------------------
# Dropout as an ensemble
# ----------------------------------------------------------------------------

def all_masks(d: int, *, dtype=torch.float32) -> torch.Tensor:
    """Every keep/drop pattern of ``d`` units: a (2**d, d) tensor of 0s and 1s (1 = kept)."""
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 16:
        raise ValueError(f"d must be an int from 1 to 16 (2**d masks), got {d!r}")
    return torch.tensor(list(itertools.product((0, 1), repeat=d)), dtype=dtype)


def thinned_network_logits(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, *,
                           p_keep: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Output scores of every network that dropout can sample from one hidden layer.

    Inverted dropout, as :func:`course_lib.functional.dropout_forward`: with mask
    ``m`` the output layer sees ``hidden * m / p_keep``, so thinned network ``t``
    computes ``scores[t] = (hidden * masks[t] / p_keep) @ weight + bias``.

    Args:
        hidden: (N, D) activations of the hidden layer, ``D <= 16``.
        weight: (D, M) and bias: (M,) of the output layer (course_lib's layout).
        p_keep: probability of keeping a unit.
    Returns:
        masks: (2**D, D), and scores: (2**D, N, M).
    """
    check_tensor("hidden", hidden, 2)
    check_tensor("weight", weight, 2)
    if weight.shape[0] != hidden.shape[1]:
        raise ValueError(f"weight has shape {tuple(weight.shape)} but hidden has {hidden.shape[1]} units")
    if not 0.0 < p_keep <= 1.0:
        raise ValueError(f"p_keep must lie in (0, 1], got {p_keep!r}")
    masks = all_masks(hidden.shape[1], dtype=hidden.dtype).to(hidden.device)
    thinned = hidden.unsqueeze(0) * (masks / p_keep).unsqueeze(1)  # (2**D, N, D)
    return masks, thinned @ weight + bias
