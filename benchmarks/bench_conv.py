"""Forward + backward time of course_lib's convolution against torch's, on the CPU.

Run ``python benchmarks/bench_conv.py`` (``--repeats 10`` for steadier numbers,
``--threads 1`` to pin the thread count).  For each layer it prints the best
(least disturbed) time of one forward and backward pass of

* ``course_lib.functional.conv2d_forward`` / ``conv2d_backward`` (matrix products over the whole
  batch: one per kernel tap at stride 1, one after im2col otherwise),
* ``torch.nn.functional.conv2d`` with autograd,

and their ratio (course_lib / torch: 1.0 means as fast as torch).  Then it
times the naive loop version against the vectorised one on a smaller layer.

Unless ``OMP_WAIT_POLICY`` is already set, the script sets it to ``PASSIVE``
before torch starts its thread pool: idle OpenMP threads then sleep instead
of spinning.  On a machine whose cores other processes are also using,
spinning threads steal each other's time slices and every parallel operation
can wait a whole slice; both torch and course_lib run under the same policy.
"""
from __future__ import annotations

import argparse
import functools
import os
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede `import torch`

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from course_lib import functional as cf  # noqa: E402

# (name, N, C, F, H, W, kernel, stride, padding)
LAYERS = [
    ("3x3 64->64 on 32x32, N=32", 32, 64, 64, 32, 32, 3, 1, 1),
    ("7x7/2 3->64 on 64x64, N=16", 16, 3, 64, 64, 64, 7, 2, 3),
    ("3x3 128->128 on 16x16, N=32", 32, 128, 128, 16, 16, 3, 1, 1),
]
NAIVE_LAYER = ("3x3 16->16 on 16x16, N=8", 8, 16, 16, 16, 16, 3, 1, 1)


def best_time(fn, repeats: int, warmup: int = 2) -> float:
    """Shortest wall-clock seconds of ``fn()`` over ``repeats`` runs, after ``warmup`` runs.

    The minimum, not the mean: other processes only ever add time."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_layer(n, c, f, h, w, k, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, dtype=dtype)
    weight = torch.randn(f, c, k, k, generator=gen, dtype=dtype) * (c * k * k) ** -0.5
    bias = torch.randn(f, generator=gen, dtype=dtype)
    return x, weight, bias


def ours_step(forward, backward, x, weight, bias, dout, stride, padding):
    """One forward and backward pass of a course_lib pair; returns (dx, dw, db)."""
    _, cache = forward(x, weight, bias, stride=stride, padding=padding)
    return backward(dout, cache)


def torch_step(x, weight, bias, dout, stride, padding):
    """One forward and backward pass of torch's conv2d with autograd; returns (dx, dw, db)."""
    leaves = [t.detach().requires_grad_(True) for t in (x, weight, bias)]
    out = F.conv2d(*leaves, stride=stride, padding=padding)
    return torch.autograd.grad(out, leaves, dout)


def upstream_gradient(x, weight, stride, padding):
    """A fixed random ``dout`` of the layer's output shape."""
    shape = F.conv2d(x[:1], weight, stride=stride, padding=padding).shape
    return torch.randn((x.shape[0], *shape[1:]), generator=torch.Generator().manual_seed(1), dtype=x.dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (best reported)")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch CPU threads (default: every core this process may use)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, OMP_WAIT_POLICY="
          f"{os.environ['OMP_WAIT_POLICY']}, float32, best of {args.repeats} runs")
    cores, load = len(os.sched_getaffinity(0)), os.getloadavg()[0]
    if load > 0.5 * cores:
        print(f"note: load average {load:.1f} on {cores} cores; other processes compete for the CPU, "
              f"so multi-threaded times are noisy (try --threads 1)")
    print(f"{'layer (forward + backward)':<32} {'course_lib':>12} {'torch':>10} {'ratio':>7}")
    for name, n, c, f, h, w, k, stride, padding in LAYERS:
        x, weight, bias = make_layer(n, c, f, h, w, k)
        dout = upstream_gradient(x, weight, stride, padding)
        ours = functools.partial(ours_step, cf.conv2d_forward, cf.conv2d_backward, x, weight, bias, dout, stride, padding)
        theirs = functools.partial(torch_step, x, weight, bias, dout, stride, padding)
        # the two must agree before their times mean anything
        for grad_name, a, b in zip(("dx", "dw", "db"), ours(), theirs()):
            error = float((a - b).norm() / b.norm())
            assert error < 1e-4, f"{name}: {grad_name} differs from torch's (relative error {error:.1e})"
        t_ours, t_torch = best_time(ours, args.repeats), best_time(theirs, args.repeats)
        print(f"{name:<32} {t_ours * 1e3:>9.1f} ms {t_torch * 1e3:>7.1f} ms {t_ours / t_torch:>6.2f}x")

    name, n, c, f, h, w, k, stride, padding = NAIVE_LAYER
    x, weight, bias = make_layer(n, c, f, h, w, k)
    dout = upstream_gradient(x, weight, stride, padding)
    naive = functools.partial(ours_step, cf.conv2d_forward_naive, cf.conv2d_backward_naive, x, weight, bias, dout,
                              stride, padding)
    fast = functools.partial(ours_step, cf.conv2d_forward, cf.conv2d_backward, x, weight, bias, dout, stride, padding)
    t_naive, t_fast = best_time(naive, max(1, args.repeats // 2), warmup=1), best_time(fast, args.repeats)
    print(f"\nnaive loops vs vectorised, {name}: {t_naive * 1e3:.1f} ms vs {t_fast * 1e3:.2f} ms "
          f"= {t_naive / t_fast:.0f}x slower")


if __name__ == "__main__":
    main()
