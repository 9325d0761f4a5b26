"""Times of Chapter 6's computations against their targets, on the CPU.

Run ``python benchmarks/bench_applications.py`` (``--threads 2`` is the book build's budget).
It prints, each with its target:

* the style transfer, texture synthesis and deep dream of the chapter, with the settings of
  ``book/ch6_applications/make_generated.py`` (target: at most 20 s each on 2 cores);
* one forward pass of AlphaGo's policy network at k = 192 on one position (the paper reports
  3 ms on a GPU; no target on a CPU, the number is for the reader).
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede `import torch`

import torch  # noqa: E402

from course_lib.models.alphago import AlphaGoPolicy  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "book" / "ch6_applications" / "make_generated.py"
TARGET_SECONDS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = importlib.util.spec_from_file_location("make_generated", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.generate()
    for name in ("styled", "texture", "dream"):
        seconds = result[f"{name}_seconds"]
        verdict = "ok" if seconds <= TARGET_SECONDS else "over"
        print(f"{name:8s} {seconds:6.1f} s  (target <= {TARGET_SECONDS:.0f} s: {verdict})")
    net = AlphaGoPolicy(k=192).eval()
    x = torch.randn(1, 48, 19, 19)
    with torch.no_grad():
        net(x)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            net(x)
            best = min(best, time.perf_counter() - start)
    print(f"policy network k=192, one position: {best * 1000:.1f} ms (paper: 3 ms on a GPU)")


if __name__ == "__main__":
    main()
