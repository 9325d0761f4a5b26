"""Convolutional sentence classifiers (Chapter 5): Kim's CNN and the DCNN.

Both take a batch of word indices ``ids: (N, L)`` int64, padded at the end
with :data:`course_lib.data.text.PAD_INDEX` (0), and return class scores
``(N, num_classes)``.  Padding never changes a sentence's scores: the models
rebuild the mask ``ids != 0`` and

* :class:`KimCNN` zeroes the padded word vectors, uses wide convolutions
  (every window holds at least one word) and leaves the positions past each
  sentence's end out of max-over-time pooling;
* :class:`DCNN` runs the sentences of each length together, unpadded, because
  its pooling sizes depend on the sentence length.

The layers that are the subject of the chapter (the sentence convolutions,
max-over-time and k-max pooling, folding) are the forward/backward pairs of
:mod:`course_lib.functional.text`, made differentiable by the table of
:mod:`course_lib.nn` (``course_lib.nn.text_conv1d`` etc.); embeddings, dropout and the
output layer are ``torch.nn`` layers.

References: Y. Kim, "Convolutional Neural Networks for Sentence
Classification", EMNLP 2014; N. Kalchbrenner, E. Grefenstette, P. Blunsom,
"A Convolutional Neural Network for Modelling Sentences", ACL 2014.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import functional as F
from .. import nn as cnn
from ..data.text import PAD_INDEX
from . import register_model

__all__ = ["KimCNN", "DCNN", "kim_cnn", "dcnn", "EMBEDDING_MODES"]

EMBEDDING_MODES = ("rand", "static", "non-static", "multichannel")


def _lengths(ids: torch.Tensor) -> torch.Tensor:
    """Sentence lengths ``(N,)`` of padded ``ids: (N, L)``; padding must be a suffix and no sentence empty."""
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.int64 or ids.dim() != 2:
        raise TypeError(f"ids must be an int64 tensor (N, L) of word indices, got "
                        f"{getattr(ids, 'dtype', type(ids).__name__)} {tuple(getattr(ids, 'shape', ()))}")
    mask = ids != PAD_INDEX
    lengths = mask.sum(dim=1)
    if bool((lengths == 0).any()):
        raise ValueError(f"sentences {(lengths == 0).nonzero().flatten().tolist()[:5]} are all padding")
    prefix = torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]
    if not bool((prefix == mask).all()):
        raise ValueError("ids must be padded at the end only (a padding index inside a sentence was found)")
    return lengths


class KimCNN(nn.Module):
    """Kim (2014): one convolution layer of several widths, max-over-time pooling, dropout, softmax layer.

    Args:
        vocab_size: number of word indices (index 0 is padding).
        num_classes: number of classes.
        embed_dim: ``E``, word-vector size (the paper: 300, word2vec).
        widths: filter widths (the paper: 3, 4, 5).
        maps: feature maps per width (the paper: 100).
        dropout: drop probability on the pooled features (the paper: 0.5).
        max_norm: ``s``; :meth:`after_step` rescales every row of the output
            layer's weight to L2 norm at most ``s`` (the paper: 3).
        mode: ``"rand"`` (random vectors, trained), ``"static"`` (``pretrained``,
            frozen), ``"non-static"`` (``pretrained``, fine-tuned) or
            ``"multichannel"`` (two copies of ``pretrained``, one frozen and one
            fine-tuned; each filter sees both and their results are added).
        pretrained: (vocab_size, E) vectors, required by every mode but ``"rand"``.

    Forward: ``ids (N, L)`` int64 -> scores ``(N, num_classes)``.  The
    convolutions are wide (``padding = width - 1``), which plays the role of the
    zero padding the paper's code adds around each sentence, so a sentence shorter
    than a filter still works.
    """

    def __init__(self, vocab_size: int, num_classes: int, *, embed_dim: int = 300, widths=(3, 4, 5),
                 maps: int = 100, dropout: float = 0.5, max_norm: float | None = 3.0, mode: str = "rand",
                 pretrained: torch.Tensor | None = None):
        super().__init__()
        if mode not in EMBEDDING_MODES:
            raise ValueError(f"mode must be one of {EMBEDDING_MODES}, got {mode!r}")
        if mode != "rand":
            if pretrained is None:
                raise ValueError(f"mode {mode!r} needs pretrained word vectors (vocab_size, embed_dim)")
            if tuple(pretrained.shape) != (vocab_size, embed_dim):
                raise ValueError(f"pretrained has shape {tuple(pretrained.shape)}, expected "
                                 f"(vocab_size, embed_dim) = {(vocab_size, embed_dim)}")
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f"widths must be positive ints, got {widths}")
        self.mode, self.widths, self.max_norm = mode, widths, max_norm
        if mode == "rand":
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_INDEX)
        else:
            self.embedding = nn.Embedding.from_pretrained(pretrained.float().clone(), freeze=mode == "static",
                                                          padding_idx=PAD_INDEX)
        self.static_embedding = (nn.Embedding.from_pretrained(pretrained.float().clone(), freeze=True,
                                                              padding_idx=PAD_INDEX)
                                 if mode == "multichannel" else None)
        bound = (embed_dim * min(widths)) ** -0.5
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(maps, w, embed_dim).uniform_(-(embed_dim * w) ** -0.5, (embed_dim * w) ** -0.5))
            for w in widths)
        self.biases = nn.ParameterList(nn.Parameter(torch.empty(maps).uniform_(-bound, bound)) for _ in widths)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(maps * len(widths), num_classes)

    def features(self, ids: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Per width, the feature maps ``(N, L + width - 1, maps)`` after ReLU, and the lengths ``(N,)``."""
        lengths = _lengths(ids)
        keep = (ids != PAD_INDEX).unsqueeze(-1)
        channels = [self.embedding(ids) * keep]
        if self.static_embedding is not None:
            channels.append(self.static_embedding(ids) * keep)
        maps = []
        for w, b in zip(self.weights, self.biases):
            out = sum(cnn.text_conv1d(x, w, None, "wide") for x in channels) + b
            maps.append(torch.relu(out))
        return maps, lengths

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        maps, lengths = self.features(ids)
        pooled = []
        for width, fmap in zip(self.widths, maps):
            valid = torch.arange(fmap.shape[1], device=ids.device) < (lengths + width - 1)[:, None]
            pooled.append(cnn.max_over_time(fmap, valid))
        return self.output(self.dropout(torch.cat(pooled, dim=1)))

    @torch.no_grad()
    def after_step(self) -> None:
        """Max-norm constraint: rescale each row of the output weight whose L2 norm exceeds ``max_norm``.

        Call after every optimiser step (:func:`course_lib.train.fit` does).
        """
        if self.max_norm is not None:
            w = self.output.weight
            norms = w.norm(dim=1, keepdim=True)
            w.mul_(torch.clamp(self.max_norm / norms.clamp_min(1e-12), max=1.0))


class DCNN(nn.Module):
    """Kalchbrenner et al. (2014): the Dynamic Convolutional Neural Network, two layers.

    Each layer ``l`` is a wide row-wise convolution (:func:`~course_lib.functional.rowwise_conv1d_forward`),
    then (in the last layer) folding, dynamic k-max pooling with
    ``k_l = max(k_top, ceil((L - l) / L * s))`` for a sentence of length ``s``,
    a bias per row of each map and ``tanh``.  The top layer's ``k_top x maps x rows``
    features go through dropout to a softmax layer.

    Args:
        vocab_size, num_classes: as :class:`KimCNN`.
        embed_dim: ``d`` (the paper: 48 for sentiment); must be even (folding).
        widths: filter widths of the two layers (the paper: 7 and 5).
        maps: feature maps of the two layers (the paper: 6 and 14).
        k_top: ``k`` of the top pooling layer (the paper: 4).
        dropout: on the top features (the paper uses dropout; 0.5 here).

    Forward: ``ids (N, L)`` -> ``(N, num_classes)``.
    """

    def __init__(self, vocab_size: int, num_classes: int, *, embed_dim: int = 48, widths=(7, 5), maps=(6, 14),
                 k_top: int = 4, dropout: float = 0.5):
        super().__init__()
        if embed_dim % 2:
            raise ValueError(f"embed_dim must be even (folding adds rows in pairs), got {embed_dim}")
        if len(widths) != 2 or len(maps) != 2:
            raise ValueError(f"the DCNN here has two layers: widths and maps must have two entries, got {widths}, {maps}")
        self.widths, self.maps, self.k_top, self.num_layers = tuple(widths), tuple(maps), int(k_top), 2
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD_INDEX)
        c_in = 1
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        rows = embed_dim
        for layer, (w, f) in enumerate(zip(widths, maps), start=1):
            bound = (c_in * w) ** -0.5
            self.weights.append(nn.Parameter(torch.empty(f, c_in, w, embed_dim).uniform_(-bound, bound)))
            rows = embed_dim // 2 if layer == self.num_layers else embed_dim
            self.biases.append(nn.Parameter(torch.zeros(f, rows)))
            c_in = f
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(self.k_top * maps[-1] * rows, num_classes)

    def trace(self, ids: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
        """The shape after every step for sentences of one length: ``[(step, shape), ...]``."""
        steps: list[tuple[str, tuple[int, ...]]] = []
        self._layers(self.embedding(ids).unsqueeze(2), ids.shape[1], steps)
        return steps

    def _layers(self, x: torch.Tensor, length: int, steps=None) -> torch.Tensor:
        """``x: (n, s, 1, d)`` word vectors of ``n`` sentences of length ``s`` -> top features ``(n, k_top, F2, d/2)``."""
        record = (lambda name, t: steps.append((name, tuple(t.shape)))) if steps is not None else (lambda *a: None)
        record("embedding", x)
        for layer, (w, b) in enumerate(zip(self.weights, self.biases), start=1):
            x = cnn.rowwise_conv1d(x, w, None, "wide")
            record(f"layer {layer}: wide convolution (width {w.shape[2]})", x)
            if layer == self.num_layers:
                x = cnn.fold(x)
                record(f"layer {layer}: folding", x)
            k = F.dynamic_k(layer, self.num_layers, length, self.k_top)
            x = cnn.kmax_pool1d(x, k)
            record(f"layer {layer}: {k}-max pooling", x)
            x = torch.tanh(x + b)
        return x

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = _lengths(ids)
        vectors = self.embedding(ids).unsqueeze(2)          # (N, L, 1, d)
        top = vectors.new_empty(ids.shape[0], self.output.in_features)
        for length in lengths.unique().tolist():            # one pass per sentence length, no padding inside
            rows = (lengths == length).nonzero().flatten()
            top[rows] = self._layers(vectors[rows, :length], length).flatten(1)
        return self.output(self.dropout(top))


@register_model("kim_cnn")
def kim_cnn(vocab_size: int, num_classes: int = 2, **kwargs) -> KimCNN:
    """Kim (2014) sentence CNN; defaults are the paper's (300-d, widths 3/4/5, 100 maps, dropout 0.5, max-norm 3)."""
    return KimCNN(vocab_size, num_classes, **kwargs)


@register_model("dcnn")
def dcnn(vocab_size: int, num_classes: int = 2, **kwargs) -> DCNN:
    """Kalchbrenner et al. (2014) DCNN; defaults are the paper's sentiment network (d = 48, widths 7/5, maps 6/14, k_top 4)."""
    return DCNN(vocab_size, num_classes, **kwargs)
