"""Images made by optimising pixels through a network: deep dream and neural style transfer.

* :func:`gram_matrix`, :func:`content_loss`, :func:`style_loss`, :func:`total_variation`: the
  terms of Gatys, Ecker and Bethge's style transfer (2016);
* :func:`layer_outputs`: the activations of chosen layers of an ``nn.Sequential``, with gradients;
* :func:`random_feature_net`: a small convolutional network with seeded random weights.  Random
  convolutional features already capture texture statistics (Ustyuzhaninov et al. 2017, "What does
  it take to generate natural textures?"), so style transfer and texture synthesis run offline,
  with no pretrained weights;
* :func:`style_transfer`: pixels optimised (Adam or L-BFGS) so their deep features match a content
  image and their Gram matrices a style image;
* :func:`deep_dream`: gradient ascent on the energy of a layer's activations, with random jitter
  and octaves (Mordvintsev, Olah and Tyka 2015).

Images are ``(C, H, W)`` float tensors in ``[0, 1]``; every random choice comes from a seeded
``torch.Generator``, so a run on the CPU is repeatable bit for bit.
"""
from __future__ import annotations

import time
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "gram_matrix",
    "content_loss",
    "style_loss",
    "total_variation",
    "layer_outputs",
    "random_feature_net",
    "StyleResult",
    "style_transfer",
    "DreamResult",
    "deep_dream",
]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix of feature maps: features ``(N, C, H, W)`` -> ``(N, C, C)``,
    ``G[n, i, j] = sum_{h,w} F[n, i, h, w] F[n, j, h, w] / (H W)`` (the mean over positions,
    so images of different sizes give comparable matrices)."""
    if features.ndim != 4:
        raise ValueError(f"gram_matrix: features must be (N, C, H, W), got shape {tuple(features.shape)}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between ``features`` and ``target`` (same shape ``(N, C, H, W)``)."""
    if features.shape != target.shape:
        raise ValueError(f"content_loss: features {tuple(features.shape)} and target {tuple(target.shape)} differ")
    return F.mse_loss(features, target)


def style_loss(features: Sequence[torch.Tensor], target_grams: Sequence[torch.Tensor],
               weights: Sequence[float] | None = None) -> torch.Tensor:
    """``sum_l w_l * mean((gram(F_l) - A_l)^2)`` over layers ``l`` (``w_l = 1`` by default).

    features: per layer ``(N, C_l, H_l, W_l)``; target_grams: per layer ``(N or 1, C_l, C_l)``.
    """
    if len(features) != len(target_grams):
        raise ValueError(f"style_loss: {len(features)} feature maps but {len(target_grams)} target Gram matrices")
    weights = [1.0] * len(features) if weights is None else list(weights)
    if len(weights) != len(features):
        raise ValueError(f"style_loss: {len(weights)} weights for {len(features)} layers")
    total = features[0].new_zeros(())
    for f, a, w in zip(features, target_grams, weights):
        g = gram_matrix(f)
        if g.shape[-2:] != a.shape[-2:]:
            raise ValueError(f"style_loss: Gram matrix {tuple(g.shape)} does not match target {tuple(a.shape)}")
        total = total + w * ((g - a) ** 2).mean()
    return total


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Smoothness penalty of images ``(N, C, H, W)``: mean squared difference of vertical
    neighbours plus that of horizontal neighbours."""
    if images.ndim != 4:
        raise ValueError(f"total_variation: images must be (N, C, H, W), got shape {tuple(images.shape)}")
    dh = images[:, :, 1:, :] - images[:, :, :-1, :]
    dw = images[:, :, :, 1:] - images[:, :, :, :-1]
    zero = images.new_zeros(())
    return (dh.pow(2).mean() if dh.numel() else zero) + (dw.pow(2).mean() if dw.numel() else zero)


def layer_outputs(net: nn.Sequential, x: torch.Tensor, layers: Sequence[int]) -> list[torch.Tensor]:
    """Outputs of the modules ``net[i]`` for ``i in layers`` (in the order given), keeping gradients.

    Runs ``net`` only as far as the deepest requested layer.  x: (N, C, H, W) images.
    """
    if not isinstance(net, nn.Sequential):
        raise TypeError(f"layer_outputs: net must be an nn.Sequential, got {type(net).__name__}")
    wanted = set(layers)
    if not wanted or min(wanted) < 0 or max(wanted) >= len(net):
        raise ValueError(f"layer_outputs: layers must be indices in [0, {len(net)}), got {list(layers)}")
    found = {}
    for i, module in enumerate(net):
        x = module(x)
        if i in wanted:
            found[i] = x
            if len(found) == len(wanted):
                break
    return [found[i] for i in layers]


def random_feature_net(seed: int = 0, widths: Sequence[int] = (32, 64, 128, 128), in_channels: int = 3) -> nn.Sequential:
    """A VGG-like stack with random (seeded, Kaiming-normal) weights: per width a 3x3 convolution
    (padding 1) and a ReLU, with 2x2 average pooling between them.  Layers ``1, 4, 7, 10`` are the
    ReLU outputs (with the default four widths).  Parameters are frozen (``requires_grad=False``)."""
    gen = torch.Generator().manual_seed(seed)
    modules: list[nn.Module] = []
    channels = in_channels
    for i, width in enumerate(widths):
        if i:
            modules.append(nn.AvgPool2d(2))
        conv = nn.Conv2d(channels, width, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (channels * 9)) ** 0.5)
            conv.bias.zero_()
        modules += [conv, nn.ReLU()]
        channels = width
    net = nn.Sequential(*modules).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class StyleResult(NamedTuple):
    """``image (C, H, W)`` in [0, 1]; ``losses``: total loss after each step; ``seconds``: wall time."""

    image: torch.Tensor
    losses: list[float]
    seconds: float


def _check_image(image: torch.Tensor, name: str, what: str) -> None:
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or not image.is_floating_point():
        shown = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"{what}: {name} must be a floating (C, H, W) tensor in [0, 1], got {shown}")


def style_transfer(content: torch.Tensor, style: torch.Tensor, net: nn.Sequential, *,
                   content_layers: Sequence[int] = (7,), style_layers: Sequence[int] = (1, 4, 7, 10),
                   content_weight: float = 1.0, style_weight: float = 1e3, tv_weight: float = 1.0,
                   steps: int = 100, lr: float = 0.02, optimizer: str = "adam", init: str = "content",
                   seed: int = 0) -> StyleResult:
    """Gatys et al.'s neural style transfer with the feature network ``net``.

    Minimises ``content_weight * content_loss + style_weight * style_loss + tv_weight * TV`` over
    the pixels.  ``content`` ``(C, H, W)`` and ``style`` ``(C, H', W')`` in [0, 1], on the same
    device as ``net``.  ``init``: ``"content"`` (start from the content image plus a little seeded
    noise) or ``"noise"`` (uniform noise: texture synthesis when ``content_weight=0``).
    ``optimizer``: ``"adam"`` (``steps`` steps of size ``lr``) or ``"lbfgs"`` (``steps`` iterations).
    Pixels are clamped to [0, 1] after every step.
    """
    _check_image(content, "content", "style_transfer")
    _check_image(style, "style", "style_transfer")
    if init not in ("content", "noise") or optimizer not in ("adam", "lbfgs"):
        raise ValueError(f"style_transfer: init must be 'content' or 'noise' and optimizer 'adam' or 'lbfgs', "
                         f"got {init!r}, {optimizer!r}")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        content_targets = layer_outputs(net, content[None], content_layers)
        style_targets = [gram_matrix(f) for f in layer_outputs(net, style[None], style_layers)]
    noise = torch.rand(content.shape, generator=gen, dtype=content.dtype).to(content.device)
    x = (content + 0.1 * (noise - 0.5)).clamp(0, 1) if init == "content" else noise
    x = x[None].contiguous().clone().requires_grad_(True)
    order = list(dict.fromkeys(list(content_layers) + list(style_layers)))

    def objective() -> torch.Tensor:
        outs = dict(zip(order, layer_outputs(net, x, order)))
        loss = style_weight * style_loss([outs[i] for i in style_layers], style_targets)
        if content_weight:
            loss = loss + content_weight * sum(content_loss(outs[i], t) for i, t in zip(content_layers, content_targets))
        return loss + tv_weight * total_variation(x)

    losses: list[float] = []
    if optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = objective()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            losses.append(float(loss.detach()))
    else:
        opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20)

        def closure():
            opt.zero_grad()
            loss = objective()
            loss.backward()
            return loss

        for _ in range(steps):
            losses.append(float(opt.step(closure).detach()))
            with torch.no_grad():
                x.clamp_(0, 1)
    return StyleResult(x.detach()[0], losses, time.perf_counter() - start)


class DreamResult(NamedTuple):
    """``image (C, H, W)`` in [0, 1]; ``objective``: the layer energy at each step (all octaves);
    ``seconds``: wall time."""

    image: torch.Tensor
    objective: list[float]
    seconds: float


def deep_dream(image: torch.Tensor, net: nn.Sequential, layer: int, *, steps: int = 10, lr: float = 0.02,
               octaves: int = 3, octave_scale: float = 1.4, jitter: int = 4, channels: Sequence[int] | None = None,
               seed: int = 0) -> DreamResult:
    """Deep dream: change ``image`` ``(C, H, W)`` so that ``net[layer]``'s activations grow.

    The objective is the mean of the squared activations of ``net[layer]`` (only ``channels`` if
    given).  Each step rolls the image by a random shift of at most ``jitter`` pixels, takes a
    gradient-ascent step normalised by the gradient's mean magnitude (step ``lr`` in pixel units),
    and rolls back.  Octaves: the image is processed from ``octave_scale**-(octaves-1)`` of its size
    up to full size; the details added at one scale are enlarged and carried to the next.
    """
    _check_image(image, "image", "deep_dream")
    if octaves < 1 or octave_scale <= 1 or steps < 0 or jitter < 0:
        raise ValueError(f"deep_dream: need octaves >= 1, octave_scale > 1, steps >= 0, jitter >= 0; got "
                         f"{octaves}, {octave_scale}, {steps}, {jitter}")
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    height, width = image.shape[-2:]
    sizes = [(max(1, round(height / octave_scale ** k)), max(1, round(width / octave_scale ** k)))
             for k in reversed(range(octaves))]
    detail = torch.zeros_like(image[None])
    history: list[float] = []
    for size in sizes:
        base = F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)
        detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
        x = (base + detail).clamp(0, 1)
        for _ in range(steps):
            dy, dx = (torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist() if jitter else (0, 0))
            shifted = torch.roll(x, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)
            act = layer_outputs(net, shifted, [layer])[0]
            if channels is not None:
                act = act[:, list(channels)]
            energy = act.pow(2).mean()
            (grad,) = torch.autograd.grad(energy, shifted)
            with torch.no_grad():
                step = lr * grad / grad.abs().mean().clamp_min(1e-12)
                x = torch.roll(shifted.detach() + step, shifts=(-dy, -dx), dims=(2, 3)).clamp(0, 1)
            history.append(float(energy.detach()))
        detail = x - base
    return DreamResult(x[0].detach(), history, time.perf_counter() - start)
