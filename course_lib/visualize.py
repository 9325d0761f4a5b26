"""What a trained network computes, as numbers ready to plot (the plots live in ``course_lib.book.insight``).

* :func:`filter_images`: first-layer filters rescaled to ``[0, 1]`` images;
* :func:`feature_maps`: the activations of chosen layers for an input (forward hooks);
* :func:`conv_chain`, :func:`unit_window`: the input window a unit of a layer sees (receptive
  field from :func:`course_lib.shapes.receptive_field`);
* :func:`top_activating_patches`: the input patches that excite one channel most (Zeiler and
  Fergus 2014);
* :func:`occlusion_map`: the score of a class while a square patch hides each part of the input
  (Zeiler and Fergus 2014);
* :func:`input_gradient`, :func:`saliency_map`: the gradient of a class score with respect to the
  input and its per-pixel magnitude (Simonyan, Vedaldi and Zisserman 2014);
* :func:`hinton_data`: box sizes and signs of a Hinton diagram of a weight matrix.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import torch
from torch import nn

from .shapes import conv_output_size, receptive_field

__all__ = [
    "filter_images",
    "feature_maps",
    "conv_chain",
    "unit_window",
    "Patch",
    "top_activating_patches",
    "occlusion_map",
    "input_gradient",
    "saliency_map",
    "HintonData",
    "hinton_data",
]


def filter_images(weight: torch.Tensor | nn.Conv2d, *, per_filter: bool = True) -> torch.Tensor:
    """First-layer filters as images: weight ``(K, C, kh, kw)`` -> ``(K, C, kh, kw)`` in ``[0, 1]``.

    Each filter is shifted and scaled so that its own minimum is 0 and maximum 1
    (``per_filter=True``), or all with one range; a constant filter becomes 0.5 everywhere.
    """
    if isinstance(weight, nn.Conv2d):
        weight = weight.weight
    weight = weight.detach()
    if weight.ndim != 4:
        raise ValueError(f"filter_images: weight must be (K, C, kh, kw), got shape {tuple(weight.shape)}")
    dims = (1, 2, 3) if per_filter else (0, 1, 2, 3)
    low = weight.amin(dim=dims, keepdim=True)
    span = weight.amax(dim=dims, keepdim=True) - low
    return torch.where(span > 0, (weight - low) / span.clamp_min(torch.finfo(weight.dtype).tiny),
                       torch.full_like(weight, 0.5))


def _find_module(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    if isinstance(layer, nn.Module):
        for name, module in model.named_modules():
            if module is layer:
                return name, module
        raise ValueError("the given layer is not a submodule of the model")
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"no layer named {layer!r}; layers: {', '.join(n for n in modules if n)}")
    return layer, modules[layer]


def feature_maps(model: nn.Module, x: torch.Tensor, layers: Sequence[str | nn.Module]) -> dict[str, torch.Tensor]:
    """Outputs of ``layers`` (names from ``model.named_modules()`` or the modules) for input ``x``.

    x: (N, C, H, W) (or whatever shape ``model`` takes).

    Runs ``model(x)`` once under ``torch.no_grad()`` with forward hooks.  Returns
    ``{name: output}``; a conv layer's output is ``(N, C, H, W)``.  Hooks are removed afterwards,
    also when the forward pass raises.
    """
    found = [_find_module(model, layer) for layer in layers]
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in found:
        def hook(_module, _inputs, output, name=name):
            outputs[name] = output.detach()
        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv_chain(model: nn.Module, layer: str | nn.Module) -> list[tuple[tuple[int, int], ...]]:
    """The spatial layers (convolution, pooling) of ``model`` up to and including ``layer``, in
    registration order, as ``((kernel_h, kernel_w), (stride_h, stride_w), (pad_h, pad_w),
    (dilation_h, dilation_w))``.  Assumes the modules run in the order they are registered (a chain,
    like ``nn.Sequential``); pointwise layers (activations, batch norm) do not change the window.
    """
    name, target = _find_module(model, layer)
    chain = []
    for _, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            dilation = getattr(module, "dilation", 1)
            chain.append((_pair(module.kernel_size), _pair(module.stride), _pair(module.padding), _pair(dilation)))
        if module is target:
            return chain
    raise ValueError(f"layer {name!r} was not reached")  # pragma: no cover (found above)


def unit_window(chain: Sequence[tuple[tuple[int, int], ...]], row: int, col: int) -> tuple[int, int, int, int]:
    """Input window ``(top, left, bottom, right)`` (half-open, may extend past the image into the
    padding) seen by unit ``(row, col)`` of the last layer of ``chain`` (see :func:`conv_chain`).

    Size and jump come from :func:`course_lib.shapes.receptive_field`; the window of unit 0 starts
    at ``-sum_l pad_l * jump_{l-1}``.
    """
    starts, sizes = [], []
    for axis, index in ((0, row), (1, col)):
        layers = [(k[axis], s[axis], d[axis]) for k, s, _p, d in chain]
        field = receptive_field(layers)
        offset = -sum(p[axis] * receptive_field(layers[:i]).jump for i, (_k, _s, p, _d) in enumerate(chain))
        starts.append(offset + index * field.jump)
        sizes.append(field.size)
    return starts[0], starts[1], starts[0] + sizes[0], starts[1] + sizes[1]


class Patch(NamedTuple):
    """One top-activating location: image index, unit ``(row, col)`` in the layer's map, the activation,
    and the input window ``(top, left, bottom, right)`` clipped to the image."""

    image: int
    row: int
    col: int
    value: float
    window: tuple[int, int, int, int]


def top_activating_patches(model: nn.Module, images: torch.Tensor, layer: str | nn.Module, channel: int,
                           k: int = 9, *, one_per_image: bool = True) -> list[Patch]:
    """The ``k`` units of ``channel`` in ``layer`` that respond most over ``images`` ``(N, C, H, W)``.

    With ``one_per_image`` each image contributes at most its best unit (as in Zeiler and Fergus's
    grids).  Each :class:`Patch` carries the input window of that unit (:func:`unit_window`),
    clipped to the image; crop it with ``images[p.image, :, top:bottom, left:right]``.
    """
    name, _module = _find_module(model, layer)
    acts = feature_maps(model, images, [name])[name]
    if acts.ndim != 4:
        raise ValueError(f"top_activating_patches: layer {name!r} gives shape {tuple(acts.shape)}, not (N, C, H, W)")
    if not 0 <= channel < acts.shape[1]:
        raise ValueError(f"top_activating_patches: channel {channel} out of range for {acts.shape[1]} channels")
    maps = acts[:, channel]                                   # (N, h, w)
    n, h, w = maps.shape
    if one_per_image:
        best, where = maps.reshape(n, -1).max(dim=1)
        order = torch.sort(best, descending=True, stable=True).indices[:k]
        picks = [(int(i), int(where[i]) // w, int(where[i]) % w, float(best[i])) for i in order]
    else:
        values, flat = torch.topk(maps.reshape(-1), min(k, maps.numel()))
        picks = [(int(f) // (h * w), (int(f) % (h * w)) // w, int(f) % w, float(v)) for v, f in zip(values, flat)]
    chain = conv_chain(model, name)
    height, width = images.shape[-2:]
    patches = []
    for image, row, col, value in picks:
        top, left, bottom, right = unit_window(chain, row, col)
        window = (max(top, 0), max(left, 0), min(bottom, height), min(right, width))
        patches.append(Patch(image, row, col, value, window))
    return patches


def _class_score(model: nn.Module, x: torch.Tensor, target: int | Callable, softmax: bool) -> torch.Tensor:
    out = model(x)
    if callable(target):
        return target(out)
    if softmax:
        out = torch.softmax(out, dim=1)
    return out[:, target]


def occlusion_map(model: nn.Module, image: torch.Tensor, target: int | Callable[[torch.Tensor], torch.Tensor], *,
                  patch_size: int | tuple[int, int], stride: int | tuple[int, int], fill: float | torch.Tensor = 0.0,
                  softmax: bool = True, batch_size: int = 64) -> torch.Tensor:
    """Zeiler and Fergus's occlusion sensitivity: the target's score with each patch of the input hidden.

    Args:
        model: maps ``(B, C, H, W)`` to ``(B, classes)`` scores.
        image: ``(C, H, W)``.
        target: class index, or a function of the model's output ``(B, ...) -> (B,)`` scores.
        patch_size, stride: the occluding square (or ``(h, w)``) and its step, in pixels.
        fill: value of the occluded pixels (a number, or ``(C,)`` per channel, e.g. the data mean).
        softmax: score = softmax probability of ``target`` (else the raw output).
        batch_size: occluded copies per forward pass.
    Returns:
        ``(H_out, W_out)`` scores, ``H_out = (H - patch_h) // stride_h + 1`` (no padding); entry
        ``(i, j)`` hides rows ``i*stride_h : i*stride_h + patch_h`` and the matching columns.
    """
    if image.ndim != 3:
        raise ValueError(f"occlusion_map: image must be (C, H, W), got shape {tuple(image.shape)}")
    (ph, pw), (sh, sw) = _pair(patch_size), _pair(stride)
    c, height, width = image.shape
    if ph > height or pw > width or min(ph, pw, sh, sw) < 1:
        raise ValueError(f"occlusion_map: patch_size {(ph, pw)} and stride {(sh, sw)} must be >= 1 and the patch "
                         f"must fit in the {height}x{width} image")
    ho, wo = conv_output_size(height, ph, 0, sh), conv_output_size(width, pw, 0, sw)
    fill = torch.as_tensor(fill, dtype=image.dtype, device=image.device).reshape(-1, 1, 1).expand(c, ph, pw)
    corners = [(i * sh, j * sw) for i in range(ho) for j in range(wo)]
    scores = []
    with torch.no_grad():
        for start in range(0, len(corners), batch_size):
            chunk = corners[start:start + batch_size]
            batch = image.expand(len(chunk), c, height, width).clone()
            for b, (top, left) in enumerate(chunk):
                batch[b, :, top:top + ph, left:left + pw] = fill
            scores.append(_class_score(model, batch, target, softmax).reshape(-1))
    return torch.cat(scores).reshape(ho, wo)


def input_gradient(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Gradient of the score of ``target`` (one class, or one per image) with respect to ``x`` ``(N, C, H, W)``.

    The score is the model's raw output for the class (before softmax, as in Simonyan et al.).
    Returns ``(N, C, H, W)``, same dtype and device as ``x``; ``x`` is not modified.
    """
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    index = torch.as_tensor(target, device=out.device).reshape(-1)
    if index.numel() == 1:
        index = index.expand(out.shape[0])
    if index.numel() != out.shape[0]:
        raise ValueError(f"input_gradient: target must be one class or one per image ({out.shape[0]}), "
                         f"got {index.numel()}")
    score = out.gather(1, index[:, None].long()).sum()
    (grad,) = torch.autograd.grad(score, x)
    return grad


def saliency_map(model: nn.Module, x: torch.Tensor, target: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Simonyan et al.'s saliency: ``max over channels of |d score / d x|``, ``(N, H, W)``."""
    return input_gradient(model, x, target).abs().amax(dim=1)


class HintonData(NamedTuple):
    """A Hinton diagram of a ``(R, C)`` matrix: ``side`` ``(R, C)`` in ``[0, 1]``, each box's side as a
    fraction of a cell (area proportional to ``|w|``, the largest filling its cell), and ``positive``
    ``(R, C)`` bool (white boxes for positive weights, black for negative)."""

    side: torch.Tensor
    positive: torch.Tensor


def hinton_data(weights: torch.Tensor) -> HintonData:
    """Box sizes and colours of a Hinton diagram for ``weights: (R, C)``, a 2-D weight matrix."""
    weights = torch.as_tensor(weights).detach()
    if weights.ndim != 2:
        raise ValueError(f"hinton_data: weights must be a matrix (R, C), got shape {tuple(weights.shape)}")
    magnitude = weights.abs()
    largest = magnitude.max() if weights.numel() else magnitude.new_tensor(0.0)
    side = torch.sqrt(magnitude / largest) if largest > 0 else torch.zeros_like(magnitude)
    return HintonData(side, weights > 0)
