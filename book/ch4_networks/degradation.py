"""The degradation experiment of He et al. (2016) at small scale: plain versus residual networks of
increasing depth on scikit-learn's digits.  Writes ``degradation.json`` beside this file, which the
chapter plots.

Run from the repository root (a few minutes on two CPU cores)::

    python book/ch4_networks/degradation.py            # writes book/ch4_networks/degradation.json

Every network is a CIFAR-style net of depth 6n + 2 (course_lib.models.resnet.resnet_cifar) with
narrow stages, built and trained with the same seed and settings; "plain" is the same stack without
shortcuts.  Recorded per network: the training loss of every step, the training error of every epoch
(running over the epoch, as the paper's curves), the final error on the training set measured in
eval mode, the validation error, the parameter count and the seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from course_lib.data.images import load_digits  # noqa: E402
from course_lib.models.resnet import resnet_cifar  # noqa: E402
from course_lib.train import evaluate, fit  # noqa: E402

OUT = Path(__file__).with_name("degradation.json")
SETTINGS = {"epochs": 12, "lr": 0.05, "batch_size": 64, "optimizer": "sgd", "momentum": 0.9, "weight_decay": 1e-4}
DEPTHS = (8, 20, 44)
WIDTHS = (8, 16, 32)
SIZE = 16


def run(depths=DEPTHS, settings=SETTINGS, seed: int = 0) -> dict:
    splits = load_digits(SIZE, seed=seed)
    results = {"settings": settings, "depths": list(depths), "widths": list(WIDTHS), "image_size": SIZE,
               "seed": seed, "train_size": len(splits.train), "runs": []}
    for depth in depths:
        for kind, shortcut in (("plain", None), ("residual", "pad")):
            torch.manual_seed(seed)
            model = resnet_cifar(depth, 10, shortcut=shortcut, in_channels=1, widths=WIDTHS, input_size=SIZE)
            start = time.perf_counter()
            history = fit(model, splits.train, splits.val, device="cpu", seed=seed, progress=False, **settings)
            run = {"kind": kind, "depth": depth, "params": sum(p.numel() for p in model.parameters()),
                   "step_loss": [round(v, 5) for v in history.step_loss],
                   "train_error": [round(1 - a, 5) for a in history.train_acc],
                   "val_error": [round(1 - a, 5) for a in history.val_acc],
                   "final_train_error": round(1 - evaluate(model, splits.train, device="cpu"), 5),
                   "seconds": round(time.perf_counter() - start, 1)}
            results["runs"].append(run)
            print(f"{kind:8s} depth {depth:3d}: final training error {run['final_train_error']:.4f}, "
                  f"validation error {run['val_error'][-1]:.4f}, {run['seconds']} s", flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="plain versus residual nets on digits")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.write_text(json.dumps(run(), indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
