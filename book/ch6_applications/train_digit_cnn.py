"""Train the probe CNN of Chapter 6 on scikit-learn's digits and cache its weights beside this file.

Run from the repository root:  python book/ch6_applications/train_digit_cnn.py
Writes book/ch6_applications/digit_cnn.pt (a state_dict, about 0.2 MB) and prints the accuracies.
Seeded: on a CPU the same run gives the same weights.
"""
from pathlib import Path

import torch

from course_lib.data.images import load_digits
from course_lib.models import get_model
from course_lib.train import evaluate, fit

OUT = Path(__file__).with_name("digit_cnn.pt")


def main() -> None:
    torch.manual_seed(0)
    splits = load_digits(size=32, seed=0)
    model = get_model("probe_cnn")
    history = fit(model, splits.train, splits.val, epochs=12, lr=0.02, batch_size=32, seed=0, progress=False)
    model.eval()
    test_acc = evaluate(model, splits.test)
    state = {name: t.detach().cpu().clone() for name, t in model.state_dict().items()}
    torch.save(state, OUT)
    print(f"val accuracy {history.val_acc[-1]:.4f}, test accuracy {test_acc:.4f}, "
          f"{history.seconds:.1f} s; wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
