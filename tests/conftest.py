"""What every test shares: the devices, the tolerances per dtype and the hypothesis profiles.

* ``device``: a session-scoped fixture over :data:`DEVICES`, the CPU and CUDA; CUDA is
  reported as skipped, with the reason, on a machine without it (never silently left out).
  A test asks for it by naming a ``device`` argument.
* :func:`tolerances`: ``rtol``/``atol`` for comparing with torch in a dtype
  (``from conftest import tolerances``).
* hypothesis profiles: ``dev`` (the default: random examples, no deadline) and ``ci``
  (derandomised: the same examples on every run), loaded when the ``CI`` environment
  variable is set; ``HYPOTHESIS_PROFILE=<name>`` picks one explicitly.
"""
from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

DEVICES = [
    pytest.param(torch.device("cpu"), id="cpu"),
    pytest.param(torch.device("cuda"), id="cuda",
                 marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")),
]

#: float32 allows for reordered sums over up to a few thousand terms (a convolution's
#: C*KH*KW); float64 is what gradcheck and the exact comparisons run in
_TOLERANCES = {
    torch.float32: {"rtol": 1e-4, "atol": 1e-4},
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
}


def tolerances(dtype: torch.dtype) -> dict[str, float]:
    """``{"rtol": ..., "atol": ...}`` for ``torch.testing.assert_close`` of results in ``dtype``."""
    try:
        return _TOLERANCES[dtype]
    except KeyError:
        raise ValueError(f"no tolerances for dtype {dtype}; known: {sorted(map(str, _TOLERANCES))}") from None


@pytest.fixture(params=DEVICES, scope="session")
def device(request) -> torch.device:
    """Each device in turn: the CPU, then CUDA (skipped with a reason where there is none)."""
    return request.param


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of tiny tensors (``pytest.mark.usefixtures("one_torch_thread")``): extra threads only
    add synchronisation, which stalls badly when other processes share the cores.  Restored after the module."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
