"""Hidden-test helpers for exercises whose answer is a ``torch.nn.Module`` (Assignment 4's networks).

The tests load the reference network's weights into the student's module, so
that both compute the same function and can be compared output by output; a
module whose attribute names or layer order differ from the instructions
then gets a message that says so instead of a wrong value.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .compare import GradingError

__all__ = ["load_reference_state", "parameter_shapes", "randomize_batch_norm"]


def load_reference_state(student: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    """Copy the reference's ``state_dict`` (keys named as the instructions name them) into ``student``.

    Raises:
        GradingError: a key is missing or unexpected, or a tensor's shape differs; the message names
            ``what`` and quotes torch's list of the differences.
    """
    try:
        student.load_state_dict(state, strict=True)
    except Exception as exc:  # missing / unexpected keys, or a shape that differs
        raise GradingError(f"{what}: the reference weights do not fit your module's state_dict "
                           f"(check the attribute names and the layer order of the instructions): "
                           f"{str(exc)[:600]}") from None


@torch.no_grad()
def randomize_batch_norm(module: nn.Module, generator: torch.Generator) -> None:
    """Random running statistics and affine parameters in every ``BatchNorm2d`` of ``module``.

    With the defaults (mean 0, variance 1, weight 1, bias 0) batch norm in evaluation mode is almost
    the identity, and a module that ignores or misnames its buffers would pass; random values
    (variances in [0.5, 1.5)) make them count.  ``generator`` draws on the CPU.
    """
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=generator))
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.weight.copy_(torch.randn(n, generator=generator))
            m.bias.copy_(torch.randn(n, generator=generator))


def parameter_shapes(module: nn.Module) -> list[tuple[int, ...]]:
    """The shapes of ``module``'s parameters, sorted (compared with the reference's, whatever the names)."""
    return sorted(tuple(p.shape) for p in module.parameters())
