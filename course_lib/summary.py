"""Per-layer summary of a network: output shape, parameters, multiply-adds, receptive field.

:func:`summarize` runs one forward pass (batch of 1, eval mode, no gradients) with hooks on
every leaf module that runs, and returns a :class:`Summary`: one :class:`LayerRow` per layer
call, plus totals, printable as a text or Markdown table like the architecture tables of the
chapter.  Build the model on ``torch.device("meta")`` to summarise a large network without
memory or arithmetic: shapes are all that is needed.

Counting rules:

* **parameters**: the module's own parameters (a layer used twice is listed twice but its
  parameters count once in ``total_params``, which is the model's parameter count, including
  parts that did not run, such as auxiliary classifiers in eval mode);
* **multiply-adds (MACs)**: convolutions (``(C_in / groups) * prod(kernel)`` per output
  value, with :func:`course_lib.shapes.conv_layer_macs` for 2-D) and fully connected layers
  (``in_features`` per output value).  Bias additions, activations, pooling, LRN, batch norm,
  additions and concatenations count 0: they are a small fraction of the work and this is
  what :class:`torch.utils.flop_counter.FlopCounterMode` counts too (it reports FLOPs =
  2 x MACs for matrix products and convolutions only);
* **receptive field** (``rf``) and **jump** (input pixels between neighbouring outputs),
  along the height, with :func:`course_lib.shapes.receptive_field`.  Every tensor carries the
  chain of windowed layers (convolution, pooling: modules with ``kernel_size``) that led to it;
  where branches meet (addition, concatenation) the larger receptive field wins.  Layers whose
  output is no longer an image (fully connected, global pooling) show ``None``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from .shapes import ReceptiveField, conv_layer_macs, receptive_field

__all__ = ["LayerRow", "Summary", "summarize", "layer_macs"]


class LayerRow(NamedTuple):
    """One layer call.  ``output_shape`` excludes the batch dimension; ``rf``/``jump`` are
    pixels of the input (None where the output is not a spatial map)."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    macs: int
    rf: int | None
    jump: int | None


def _fmt_shape(shape: tuple[int, ...]) -> str:
    """(C, H, W) -> "HxWxC" as in the papers' tables; other ranks as they are."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


class Summary(NamedTuple):
    """Rows, totals and the input size; ``str()`` gives a text table, :meth:`to_markdown` Markdown."""

    rows: list[LayerRow]
    input_size: tuple[int, ...]
    total_params: int
    total_macs: int
    output_shape: tuple[int, ...]

    def _table(self) -> tuple[list[str], list[list[str]]]:
        header = ["layer", "type", "output", "parameters", "multiply-adds", "RF", "jump"]
        body = [[r.name, r.kind, _fmt_shape(r.output_shape), f"{r.params:,}", f"{r.macs:,}",
                 "-" if r.rf is None else str(r.rf), "-" if r.jump is None else str(r.jump)] for r in self.rows]
        body.append(["total", "", _fmt_shape(self.output_shape), f"{self.total_params:,}", f"{self.total_macs:,}", "", ""])
        return header, body

    def __str__(self) -> str:
        header, body = self._table()
        widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
        right = {3, 4, 5, 6}

        def line(row):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

        rule = "-" * len(line(header))
        return "\n".join([f"input {_fmt_shape(self.input_size)}", line(header), rule, *map(line, body[:-1]), rule,
                          line(body[-1])])

    def to_markdown(self) -> str:
        header, body = self._table()
        body[-1] = [f"**{c}**" if c else "" for c in body[-1]]
        align = ["---", "---", "---", "---:", "---:", "---:", "---:"]
        return "\n".join("| " + " | ".join(r) + " |" for r in [header, align] + body)

    def select(self, *kinds: str) -> list[LayerRow]:
        """The rows whose ``kind`` is one of ``kinds`` (e.g. ``"Conv2d", "Linear"``)."""
        return [r for r in self.rows if r.kind in kinds]


def layer_macs(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    """Multiply-adds of one call of ``module`` on ``x`` giving ``out`` (whole batch); 0 for
    layers other than convolutions and ``nn.Linear`` (see the module docstring).  A module of
    another kind that does matrix products declares its count with a method
    ``multiply_adds(x, out) -> int`` (LeNet's partially connected C3 does)."""
    if hasattr(module, "multiply_adds"):
        return int(module.multiply_adds(x, out))
    if isinstance(module, nn.Conv2d) and isinstance(module.padding, tuple):
        n, c, h, w = x.shape
        macs = conv_layer_macs(c, module.out_channels, module.kernel_size, (h, w), stride=module.stride,
                               padding=module.padding, dilation=module.dilation, groups=module.groups, batch=n)
        if macs != out.numel() * (c // module.groups) * math.prod(module.kernel_size):
            raise AssertionError(f"{module}: output {tuple(out.shape)} disagrees with the shape formula")
        return macs
    if isinstance(module, nn.modules.conv._ConvNd):  # 1-D, 3-D, 'same' padding, transposed
        per_output = (module.in_channels // module.groups) * math.prod(module.kernel_size)
        if module.transposed:  # every input value meets every kernel tap of its group
            return x.numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
        return out.numel() * per_output
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


def _window(module: nn.Module) -> tuple[int, int, int] | None:
    """(kernel, stride, dilation) along the height of a windowed module, else None."""
    k = getattr(module, "kernel_size", None)
    if k is None:
        return None
    first = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
    stride = getattr(module, "stride", None) or k
    return first(k), first(stride), first(getattr(module, "dilation", 1))


class _ChainTracker(TorchFunctionMode):
    """Gives every tensor computed from a tracked tensor the longest chain of windowed layers
    among its inputs (by receptive field)."""

    def __init__(self):
        super().__init__()
        self.chains: dict[int, tuple] = {}
        self._alive: list[torch.Tensor] = []  # keep tensors alive so that ids stay unique

    def set(self, t: torch.Tensor, chain: tuple) -> None:
        self.chains[id(t)] = chain
        self._alive.append(t)

    def get(self, t) -> tuple | None:
        return self.chains.get(id(t)) if isinstance(t, torch.Tensor) else None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        known = [c for c in map(self.get, tree_flatten((args, kwargs))[0]) if c is not None]
        if known:
            best = max(known, key=lambda c: receptive_field(c).size)
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and t.ndim >= 3:
                    self.set(t, best)
        return out


def summarize(model: nn.Module, input_size, *, dtype: torch.dtype | None = None) -> Summary:
    """Summarise ``model`` on one input of ``input_size`` (without the batch dimension, e.g.
    ``(3, 227, 227)``); the input is zeros on the device of the model's parameters, of
    ``dtype`` (default: the parameters' dtype; pass ``torch.long`` for token indices)."""
    input_size = tuple(int(s) for s in input_size)
    if not input_size or any(s < 1 for s in input_size):
        raise ValueError(f"input_size must be a non-empty tuple of positive sizes, got {input_size}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = dtype or (param.dtype if param is not None else torch.float32)
    x = torch.zeros((1,) + input_size, dtype=dtype, device=device)
    rows: list[LayerRow] = []
    tracker = _ChainTracker()
    names = {m: n for n, m in model.named_modules()}
    seen_params: set[int] = set()

    def hook(module, args, out):
        if not isinstance(out, torch.Tensor):
            return
        inp = args[0] if args else None
        chain = tracker.get(inp)
        window = _window(module)
        if chain is not None and window is not None and out.ndim >= 3:
            chain = chain + (window,)
            tracker.set(out, chain)
        spatial = out.ndim >= 3 and chain is not None and not (out.ndim == 4 and out.shape[-2:] == (1, 1)
                                                                and isinstance(module, nn.AdaptiveAvgPool2d))
        rf = receptive_field(chain) if spatial else ReceptiveField(None, None)
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen_params]
        seen_params.update(id(p) for p in own)
        macs = layer_macs(module, inp, out) if isinstance(inp, torch.Tensor) else 0
        rows.append(LayerRow(names.get(module, type(module).__name__), type(module).__name__, tuple(out.shape[1:]),
                             sum(p.numel() for p in own), macs, rf.size, rf.jump))

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), tracker:
            tracker.set(x, ())
            out = model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    out = out[0] if isinstance(out, (tuple, list)) else out
    return Summary(rows, input_size, sum(p.numel() for p in model.parameters()), sum(r.macs for r in rows),
                   tuple(out.shape[1:]))
