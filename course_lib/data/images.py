"""Image classification data that ships with the course's dependencies, as tensors.

Every loader returns :class:`Splits`, a ``(train, val, test)`` triple of
``torch.utils.data.TensorDataset(x, y)`` with ``x: (N, C, H, W)`` float32 in ``[0, 1]``
and ``y: (N,)`` int64 class indices.  Tensors live on the CPU; the training loop moves
each batch to its device.

* ``digits``: scikit-learn's 1,797 handwritten digits (8x8 pixels, 16 grey levels),
  resized to ``size x size`` with bilinear interpolation, split stratified by class with a
  fixed seed.  Always available.
* ``mnist`` / ``cifar10``: read with torchvision's dataset classes from a local folder
  (``download=False``).  When the folder does not hold the data, the loader warns, naming
  the path it looked at, and returns the digits instead.  Nothing is ever downloaded.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["Splits", "load_digits", "load_image_dataset", "DATASETS"]

DATASETS = ("digits", "mnist", "cifar10")


class Splits(NamedTuple):
    """Three disjoint data sets: fit on ``train``, choose settings on ``val``, report ``test``."""

    train: TensorDataset
    val: TensorDataset
    test: TensorDataset


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1:
        raise ValueError(f"val_fraction + test_fraction must be < 1 (something must remain to train on), "
                         f"got {val_fraction} + {test_fraction}")


def _stratified_split(y: np.ndarray, val_fraction: float, test_fraction: float, seed: int):
    """Index arrays (train, val, test): each class is shuffled with ``seed`` and cut in the
    given proportions, so every split has (up to rounding) the class frequencies of ``y``."""
    rng = np.random.default_rng(seed)
    parts: tuple[list, list, list] = ([], [], [])
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_test = int(round(test_fraction * len(idx)))
        n_val = int(round(val_fraction * len(idx)))
        parts[2].append(idx[:n_test])
        parts[1].append(idx[n_test:n_test + n_val])
        parts[0].append(idx[n_test + n_val:])
    # one more seeded shuffle, so that batches taken in order are not sorted by class
    return tuple(rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts)


def _make_splits(x: torch.Tensor, y: torch.Tensor, val_fraction: float, test_fraction: float,
                 seed: int) -> Splits:
    idx = _stratified_split(y.numpy(), val_fraction, test_fraction, seed)
    return Splits(*(TensorDataset(x[torch.from_numpy(i)], y[torch.from_numpy(i)]) for i in idx))


def _resize(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """x: (N, C, H, W) -> (N, C, size, size), bilinear, clamped back to [0, 1]."""
    if size is None or tuple(x.shape[-2:]) == (size, size):
        return x
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int (pixels), got {size!r}")
    out = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return out.clamp_(0.0, 1.0)


def load_digits(size: int = 32, *, seed: int = 0, val_fraction: float = 0.15,
                test_fraction: float = 0.15) -> Splits:
    """scikit-learn's handwritten digits as ``(N, 1, size, size)`` images in ``[0, 1]``.

    Args:
        size: side of the returned images in pixels (the originals are 8x8; 32 suits LeNet-5).
        seed: seed of the stratified split (same seed, same split).
        val_fraction, test_fraction: shares of each class put in ``val`` and ``test``.
    Returns:
        :class:`Splits` of ``TensorDataset(x, y)``, ``x`` float32 ``(N, 1, size, size)``,
        ``y`` int64 ``(N,)`` in ``0..9``.
    """
    from sklearn.datasets import load_digits as _sk_digits

    _check_fractions(val_fraction, test_fraction)
    data = _sk_digits()
    x = torch.from_numpy(data.images.astype(np.float32) / 16.0).unsqueeze(1)  # grey levels 0..16
    x = _resize(x, size)
    y = torch.from_numpy(data.target.astype(np.int64))
    return _make_splits(x.contiguous(), y, val_fraction, test_fraction, seed)


def _default_root() -> Path:
    return Path(os.environ.get("COURSE_DATA", Path.home() / "data"))


def _torchvision_arrays(name: str, root: Path):
    """(x uint8 (N, H, W[, 3]), y (N,)) of the train and test parts, or None if not on disk."""
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10}[name]
    try:
        train = cls(str(root), train=True, download=False)
        test = cls(str(root), train=False, download=False)
    except RuntimeError:  # torchvision: "Dataset not found or corrupted"
        return None
    return [(np.asarray(part.data), np.asarray(part.targets)) for part in (train, test)]


def load_image_dataset(name: str, root: str | os.PathLike | None = None, *, size: int | None = None,
                       seed: int = 0, val_fraction: float = 0.15, test_fraction: float = 0.15) -> Splits:
    """Load ``"digits"``, ``"mnist"`` or ``"cifar10"`` as :class:`Splits`.

    MNIST and CIFAR-10 are read from ``root`` (default ``$COURSE_DATA`` or ``~/data``) in
    torchvision's layout, never downloaded; their official test set is ``test`` and
    ``val_fraction`` of the training set (stratified, ``seed``) becomes ``val``.  When the
    files are missing the function warns with the path it looked at and returns the
    digits (with ``val_fraction``/``test_fraction``).

    Args:
        size: side of the returned images (default: the data set's own; 32 for digits).
    Returns:
        :class:`Splits`; ``x`` float32 ``(N, C, H, W)`` in ``[0, 1]`` (C = 1 for digits and
        MNIST, 3 for CIFAR-10), ``y`` int64 ``(N,)``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    _check_fractions(val_fraction, test_fraction)
    if name == "digits":
        return load_digits(32 if size is None else size, seed=seed, val_fraction=val_fraction,
                           test_fraction=test_fraction)
    root = Path(root) if root is not None else _default_root()
    arrays = _torchvision_arrays(name, root) if root.is_dir() else None
    if arrays is None:
        warnings.warn(f"{name} was not found under {root} (looked for torchvision's layout, "
                      f"download=False); using scikit-learn's digits instead", stacklevel=2)
        return load_digits(32 if size is None else size, seed=seed, val_fraction=val_fraction,
                           test_fraction=test_fraction)
    (x_train, y_train), (x_test, y_test) = arrays

    def to_tensor(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).float().div_(255.0)
        t = t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)  # (N, H, W) or (N, H, W, 3)
        return _resize(t.contiguous(), size)

    xt, yt = to_tensor(x_train), torch.from_numpy(y_train.astype(np.int64))
    train_idx, val_idx, _ = _stratified_split(yt.numpy(), val_fraction, 0.0, seed)
    return Splits(TensorDataset(xt[train_idx], yt[train_idx]), TensorDataset(xt[val_idx], yt[val_idx]),
                  TensorDataset(to_tensor(x_test), torch.from_numpy(y_test.astype(np.int64))))
