"""A small, seeded training loop for classifiers (Chapter 4 onwards).

:func:`fit` trains any ``torch.nn.Module`` that maps a batch ``x: (B, ...)`` to class scores
``(B, K)`` with the cross-entropy loss, on a ``TensorDataset(x, y)`` (images, token indices,
anything that can be indexed along its first dimension) with ``y: (N,)`` int64 labels.
:func:`evaluate`, :func:`predict` and :func:`confusion_matrix` measure a trained model.

The data stay where they are (usually the CPU); each batch moves to the model's device.
With the same seed, model initialisation and data, a run on the CPU is bit-for-bit repeatable:
the shuffling uses its own ``torch.Generator`` and the global generator (dropout) is seeded
inside a :func:`torch.random.fork_rng` block, so the caller's random state is left untouched.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from .device import get_device

__all__ = ["History", "fit", "evaluate", "predict", "confusion_matrix"]

OPTIMIZERS = ("sgd", "adam")
AUX_WEIGHT = 0.3  # weight of auxiliary classifier losses (GoogLeNet, Szegedy et al. 2015)


@dataclass
class History:
    """What :func:`fit` measured.

    Attributes:
        step_loss: training loss of every mini-batch, in order (``epochs * steps`` floats).
        train_loss, train_acc: per epoch, mean loss and accuracy over the epoch's batches
            (the model changes during the epoch; this is the usual running estimate).
        val_loss, val_acc: per epoch, on ``val`` after the epoch, in eval mode (empty without ``val``).
        seconds: wall-clock time of the whole run.
    """

    step_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def epochs(self) -> int:
        return len(self.train_loss)


def _tensors(dataset, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, y) of a TensorDataset or a pair of tensors, validated."""
    if isinstance(dataset, TensorDataset):
        tensors = dataset.tensors
    elif isinstance(dataset, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in dataset):
        tensors = tuple(dataset)
    else:
        raise TypeError(f"{name} must be a TensorDataset(x, y) or a pair (x, y) of tensors, "
                        f"got {type(dataset).__name__}")
    if len(tensors) != 2:
        raise ValueError(f"{name} must hold exactly two tensors (x, y), got {len(tensors)}")
    x, y = tensors
    if y.ndim != 1 or y.dtype != torch.int64:
        raise ValueError(f"{name}: labels y must be int64 of shape (N,), got {y.dtype} {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{name}: x has {x.shape[0]} samples but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x, y


def _check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _scores_and_loss(output, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Main scores and training loss; a tuple output (main, aux1, ...) adds the auxiliary
    losses with weight 0.3, as GoogLeNet was trained."""
    if isinstance(output, (tuple, list)):
        main, *aux = output
        loss = F.cross_entropy(main, y)
        for extra in aux:
            if extra is not None:
                loss = loss + AUX_WEIGHT * F.cross_entropy(extra, y)
        return main, loss
    return output, F.cross_entropy(output, y)


def _make_optimizer(model, optimizer: str, lr: float, momentum: float, weight_decay: float):
    if optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")


def fit(model: torch.nn.Module, train, val=None, *, epochs: int, lr: float, batch_size: int = 64,
        optimizer: str = "sgd", momentum: float = 0.9, weight_decay: float = 0.0,
        device: torch.device | str | None = None, seed: int = 0, progress: bool = True) -> History:
    """Train ``model`` in place with mini-batch gradient descent on the cross-entropy loss.

    Args:
        model: maps ``x: (B, ...)`` to scores ``(B, K)`` (or a tuple whose first element is).
        train, val: ``TensorDataset(x, y)`` (or a pair), ``y: (N,)`` int64 in ``0..K-1``.
        epochs: passes over ``train``; each visits every sample once in a seeded random order
            (the last batch may be smaller).
        lr: learning rate.
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adam"``; ``weight_decay`` is the L2 factor.
        device: where the model runs (default :func:`course_lib.device.get_device`).
        seed: seeds the shuffling and every random layer (dropout) during training.
        progress: show a tqdm progress bar.
    After every optimiser step, ``model.after_step()`` is called if the model has it
    (e.g. the max-norm constraint of :class:`course_lib.models.text.KimCNN`).
    Returns:
        :class:`History` (losses are nats per sample; accuracies are fractions in [0, 1]).
    """
    from tqdm.auto import tqdm

    x, y = _tensors(train, "train")
    if val is not None:
        _tensors(val, "val")
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    n = x.shape[0]
    steps = (n + batch_size - 1) // batch_size
    history = History()
    start = time.perf_counter()
    order_rng = torch.Generator().manual_seed(seed)
    fork = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork), tqdm(total=epochs * steps, disable=not progress,
                                                    desc="training", unit="step") as bar:
        torch.manual_seed(seed)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(n, generator=order_rng)
            total_loss, correct = 0.0, 0
            for i in range(steps):
                idx = order[i * batch_size:(i + 1) * batch_size]
                xb, yb = x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
                scores, loss = _scores_and_loss(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if hasattr(model, "after_step"):  # a constraint applied after each step (Kim's max-norm)
                    model.after_step()
                value = loss.item()
                history.step_loss.append(value)
                total_loss += value * len(idx)
                correct += int((scores.argmax(1) == yb).sum())
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            history.train_loss.append(total_loss / n)
            history.train_acc.append(correct / n)
            if val is not None:
                val_loss, val_acc = _loss_and_accuracy(model, val, device, 256)
                history.val_loss.append(val_loss)
                history.val_acc.append(val_acc)
                bar.set_postfix(loss=f"{value:.3f}", val_acc=f"{val_acc:.3f}")
    history.seconds = time.perf_counter() - start
    return history


def _model_device(model: torch.nn.Module, device) -> torch.device:
    if device is not None:
        return torch.device(device)
    param = next(model.parameters(), None)
    return param.device if param is not None else get_device()


@torch.no_grad()
def _scores(model: torch.nn.Module, x: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    """Eval-mode scores (N, K) on the CPU; restores the model's train/eval mode afterwards."""
    _check_positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    try:
        out = []
        for i in range(0, x.shape[0], batch_size):
            scores = model(x[i:i + batch_size].to(device))
            if isinstance(scores, (tuple, list)):
                scores = scores[0]
            out.append(scores.float().cpu())
        return torch.cat(out)
    finally:
        model.train(was_training)


def _loss_and_accuracy(model, dataset, device, batch_size) -> tuple[float, float]:
    x, y = _tensors(dataset, "dataset")
    scores = _scores(model, x, device, batch_size)
    return F.cross_entropy(scores, y).item(), (scores.argmax(1) == y).float().mean().item()


def predict(model: torch.nn.Module, data, *, device: torch.device | str | None = None,
            batch_size: int = 256) -> torch.Tensor:
    """Predicted classes ``(N,)`` int64 (CPU) for ``data``: a tensor ``x: (N, ...)`` or a
    ``TensorDataset(x, y)``; runs in eval mode on ``device`` (default: the model's)."""
    x = data if isinstance(data, torch.Tensor) else _tensors(data, "data")[0]
    return _scores(model, x, _model_device(model, device), batch_size).argmax(1)


def evaluate(model: torch.nn.Module, dataset, *, device: torch.device | str | None = None,
             batch_size: int = 256) -> float:
    """Accuracy (fraction in [0, 1]) of ``model`` on ``TensorDataset(x, y)``, eval mode."""
    _, y = _tensors(dataset, "dataset")
    return (predict(model, dataset, device=device, batch_size=batch_size) == y).float().mean().item()


def confusion_matrix(model: torch.nn.Module, dataset, num_classes: int, *,
                     device: torch.device | str | None = None, batch_size: int = 256) -> torch.Tensor:
    """``(K, K)`` int64 counts: entry ``[i, j]`` is the number of samples of true class ``i``
    predicted as class ``j`` (rows sum to the class sizes)."""
    _check_positive_int("num_classes", num_classes)
    _, y = _tensors(dataset, "dataset")
    pred = predict(model, dataset, device=device, batch_size=batch_size)
    if int(y.max()) >= num_classes or int(pred.max()) >= num_classes or int(y.min()) < 0:
        raise ValueError(f"labels/predictions reach {max(int(y.max()), int(pred.max()))} but num_classes={num_classes}")
    return torch.bincount(y * num_classes + pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes)
