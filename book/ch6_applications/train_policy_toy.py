"""Train a small AlphaGo policy network on a rule (a few CPU minutes) and cache its weights beside this file.

The rule: "capture as many stones as you can".  Positions are random 9x9 boards (each point
empty, Black or White at random) on which Black, to play, can capture; the target distribution
is uniform over the legal moves that capture the most stones.  The network is
``AlphaGoPolicy(k=32, board_size=9)``: the paper's 13 layers, with fewer filters and a smaller
board.  It learns to read the capture planes among its 48 inputs: this is a demonstration of the
architecture and the mask, not of Go strength.

Run from the repository root:  python book/ch6_applications/train_policy_toy.py
Writes book/ch6_applications/policy_toy.pt (a state_dict and the held-out accuracy).
Seeded: on a CPU the same run gives the same weights.
"""
from pathlib import Path

import numpy as np
import torch

from course_lib import go
from course_lib.models.alphago import AlphaGoPolicy

OUT = Path(__file__).with_name("policy_toy.pt")
SIZE, K, STEPS = 9, 32, 300


def capture_target(position: go.Position) -> torch.Tensor | None:
    """Uniform distribution over the legal moves capturing the most stones; None if nothing captures."""
    legal = go.legal_moves(position).numpy()
    captured = np.zeros(legal.shape)
    for r, c in zip(*np.nonzero(legal)):
        captured[r, c] = go.play(position.stones, r, c, position.to_play).captured
    if captured.max() == 0:
        return None
    best = captured == captured.max()
    return torch.from_numpy(best / best.sum()).float().flatten()


def make_positions(count: int, rng: np.random.Generator):
    """(planes (count, 48, 9, 9), legal (count, 9, 9), targets (count, 81)) of random positions that allow a capture."""
    planes, legal, targets = [], [], []
    while len(targets) < count:
        stones = rng.choice(np.array([0, 1, -1], dtype=np.int8), size=(SIZE, SIZE), p=[0.4, 0.3, 0.3])
        # remove groups that have no liberty (not a reachable position)
        labels, members, libs = go.groups(stones)
        for g, group in enumerate(members):
            if not libs[g]:
                for point in group:
                    stones[point] = 0
        position = go.Position(stones, 1, np.zeros_like(stones, dtype=np.int64))
        target = capture_target(position)
        if target is None:
            continue
        planes.append(go.feature_planes(position))
        legal.append(go.legal_moves(position))
        targets.append(target)
    return torch.stack(planes), torch.stack(legal), torch.stack(targets)


def main() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, legal, y = make_positions(1200, rng)
    x_test, legal_test, y_test = make_positions(200, rng)
    net = AlphaGoPolicy(k=K, board_size=SIZE)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    for step in range(STEPS):
        batch = torch.randint(0, len(x), (64,), generator=gen)
        logits = net.logits(x[batch]).masked_fill(~legal[batch].flatten(1), float("-inf"))
        log_p = torch.log_softmax(logits, dim=1)
        loss = -(y[batch] * log_p.masked_fill(~legal[batch].flatten(1), 0.0)).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        best = net(x_test, legal_test).argmax(dim=1)
    accuracy = float((y_test.gather(1, best[:, None]) > 0).float().mean())
    torch.save({"state_dict": net.state_dict(), "k": K, "board_size": SIZE, "test_accuracy": accuracy,
                "steps": STEPS}, OUT)
    print(f"final loss {loss.item():.3f}; the most probable move captures the most stones in "
          f"{accuracy:.1%} of 200 held-out positions; wrote {OUT}")


if __name__ == "__main__":
    main()
