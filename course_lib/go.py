"""A small Go board: positions from text, groups and liberties, legal moves, AlphaGo's input planes.

A position is a square array of stones, ``+1`` for Black (``X``), ``-1`` for White (``O``),
``0`` for an empty point (``.``), plus the colour to play.  Written as text, one row per line::

    >>> pos = parse_position('''
    ... . X O .
    ... X O . .
    ... . X . .
    ... . . . .
    ... ''', to_play="X")
    >>> legal_moves(pos).sum().item()      # 11 empty points, none a suicide for Black
    11

:func:`feature_planes` builds the 48 input planes of AlphaGo's policy network (Silver et al.
2016, Extended Data Table 2) from the player's point of view.  Two feature groups are left at
zero because this board does not read ladders (``ladder capture``, ``ladder escape``); every other
plane is computed.  Ko is not tracked: a move that retakes a ko is reported legal.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

__all__ = [
    "Position",
    "parse_position",
    "groups",
    "liberty_counts",
    "play",
    "legal_moves",
    "one_hot_counts",
    "feature_planes",
    "PLANES",
    "NUM_PLANES",
]

_SYMBOLS = {".": 0, "+": 0, "X": 1, "x": 1, "B": 1, "O": -1, "o": -1, "W": -1}

#: The 48 input planes of the SL policy network, in order: (name, number of planes).
PLANES: tuple[tuple[str, int], ...] = (
    ("stone colour: player, opponent, empty", 3),
    ("ones", 1),
    ("turns since (1..7, >=8)", 8),
    ("liberties (1..7, >=8)", 8),
    ("capture size (0..6, >=7)", 8),
    ("self-atari size (1..7, >=8)", 8),
    ("liberties after move (1..7, >=8)", 8),
    ("ladder capture (not read: zeros)", 1),
    ("ladder escape (not read: zeros)", 1),
    ("sensibleness", 1),
    ("zeros", 1),
)
NUM_PLANES = sum(n for _, n in PLANES)


class Position(NamedTuple):
    """A Go position.

    ``stones``: ``(size, size)`` int8 array, +1 Black, -1 White, 0 empty (row 0 at the top).
    ``to_play``: +1 (Black) or -1 (White).
    ``ages``: ``(size, size)`` int array, how many moves ago each stone was played (1 = the
    last move), 0 where unknown or empty; used by the "turns since" planes.
    """

    stones: np.ndarray
    to_play: int
    ages: np.ndarray


def parse_position(text: str, to_play: str = "X", ages: np.ndarray | None = None) -> Position:
    """Read a position from rows of ``.`` (empty), ``X`` (Black) and ``O`` (White).

    Spaces between points are optional; blank lines are ignored.  The board must be square.
    ``to_play`` is ``"X"`` / ``"B"`` or ``"O"`` / ``"W"``.
    """
    rows = []
    for line in text.strip("\n").splitlines():
        cells = [c for c in line if not c.isspace()]
        if not cells:
            continue
        bad = [c for c in cells if c not in _SYMBOLS]
        if bad:
            raise ValueError(f"parse_position: unknown symbol {bad[0]!r} in row {line!r}; use '.', 'X' or 'O'")
        rows.append([_SYMBOLS[c] for c in cells])
    if not rows:
        raise ValueError("parse_position: empty board text")
    size = len(rows)
    if any(len(r) != size for r in rows):
        raise ValueError(f"parse_position: the board must be square; got {size} rows of lengths "
                         f"{sorted({len(r) for r in rows})}")
    if to_play not in _SYMBOLS or _SYMBOLS[to_play] == 0:
        raise ValueError(f"parse_position: to_play must be 'X' or 'O', got {to_play!r}")
    stones = np.array(rows, dtype=np.int8)
    if ages is None:
        ages = np.zeros_like(stones, dtype=np.int64)
    ages = np.asarray(ages)
    if ages.shape != stones.shape:
        raise ValueError(f"parse_position: ages has shape {ages.shape}, the board {stones.shape}")
    return Position(stones, _SYMBOLS[to_play], ages)


def _neighbours(r: int, c: int, size: int):
    if r > 0:
        yield r - 1, c
    if r < size - 1:
        yield r + 1, c
    if c > 0:
        yield r, c - 1
    if c < size - 1:
        yield r, c + 1


def groups(stones: np.ndarray) -> tuple[np.ndarray, list[set], list[set]]:
    """Connected groups of stones (4-neighbourhood).

    Returns ``(labels, members, liberties)``: ``labels`` ``(size, size)`` int, -1 on empty points,
    else the group's index; ``members[g]`` and ``liberties[g]`` the sets of ``(row, col)`` points
    of group ``g`` and of its liberties (empty neighbouring points).
    """
    stones = np.asarray(stones)
    if stones.ndim != 2 or stones.shape[0] != stones.shape[1]:
        raise ValueError(f"groups: stones must be a square (size, size) array, got shape {stones.shape}")
    size = stones.shape[0]
    labels = np.full(stones.shape, -1, dtype=np.int64)
    members: list[set] = []
    liberties: list[set] = []
    for r0 in range(size):
        for c0 in range(size):
            if stones[r0, c0] == 0 or labels[r0, c0] >= 0:
                continue
            colour, g = stones[r0, c0], len(members)
            stack, group, libs = [(r0, c0)], set(), set()
            labels[r0, c0] = g
            while stack:
                r, c = stack.pop()
                group.add((r, c))
                for nr, nc in _neighbours(r, c, size):
                    if stones[nr, nc] == 0:
                        libs.add((nr, nc))
                    elif stones[nr, nc] == colour and labels[nr, nc] < 0:
                        labels[nr, nc] = g
                        stack.append((nr, nc))
            members.append(group)
            liberties.append(libs)
    return labels, members, liberties


def liberty_counts(stones: np.ndarray) -> np.ndarray:
    """``(size, size)`` int array: on each stone, the number of liberties of its group; 0 on empty points."""
    labels, _, libs = groups(stones)
    counts = np.zeros(labels.shape, dtype=np.int64)
    stone = labels >= 0
    counts[stone] = np.array([len(libs[g]) for g in labels[stone]], dtype=np.int64)
    return counts


class MoveResult(NamedTuple):
    """What playing one move does: the new stones, how many opponent stones it captured, and the
    liberties and size of the player's group that contains the new stone (after captures)."""

    stones: np.ndarray
    captured: int
    liberties: int
    group_size: int


def play(stones: np.ndarray, row: int, col: int, colour: int) -> MoveResult:
    """Place a ``colour`` stone (+1/-1) on the empty point ``(row, col)`` and remove captured groups.

    A suicide (the new group has no liberty after captures) returns ``liberties == 0`` and leaves
    the stones as they were placed (callers treat it as illegal).
    """
    stones = np.array(stones, dtype=np.int8, copy=True)
    if colour not in (1, -1):
        raise ValueError(f"play: colour must be +1 or -1, got {colour!r}")
    if stones[row, col] != 0:
        raise ValueError(f"play: point ({row}, {col}) is occupied")
    stones[row, col] = colour
    labels, members, libs = groups(stones)
    captured = 0
    for nr, nc in _neighbours(row, col, stones.shape[0]):
        g = labels[nr, nc]
        if stones[nr, nc] == -colour and not libs[g]:
            for point in members[g]:
                if stones[point] != 0:
                    stones[point] = 0
                    captured += 1
    if captured:
        labels, members, libs = groups(stones)
    g = labels[row, col]
    return MoveResult(stones, captured, len(libs[g]), len(members[g]))


def legal_moves(position: Position) -> torch.Tensor:
    """``(size, size)`` bool tensor: True on the points where ``position.to_play`` may play.

    Occupied points and suicides are illegal; a move that captures is legal even when the point
    has no liberty of its own.  Ko is not tracked (a ko retake counts as legal).
    """
    stones = position.stones
    size = stones.shape[0]
    labels, members, libs = groups(stones)
    legal = np.zeros(stones.shape, dtype=bool)
    for r in range(size):
        for c in range(size):
            if stones[r, c] != 0:
                continue
            ok = False
            for nr, nc in _neighbours(r, c, size):
                s = stones[nr, nc]
                g = labels[nr, nc]
                if s == 0:  # an empty neighbour: the new stone has a liberty
                    ok = True
                elif s == position.to_play and len(libs[g]) > 1:  # joins a group that keeps a liberty
                    ok = True
                elif s == -position.to_play and len(libs[g]) == 1:  # captures
                    ok = True
                if ok:
                    break
            legal[r, c] = ok
    return torch.from_numpy(legal)


def one_hot_counts(counts: np.ndarray, planes: int, *, start: int = 1) -> np.ndarray:
    """One-hot planes of non-negative counts: plane ``i`` marks ``count == start + i``, the last plane
    ``count >= start + planes - 1``; points with ``count < start`` are zero in every plane.

    ``counts``: ``(H, W)`` ints.  Returns ``(planes, H, W)`` float32.  With ``start=1, planes=8``
    this is AlphaGo's "liberties: 1, 2, ..., 7, >= 8".
    """
    counts = np.asarray(counts)
    if planes < 1:
        raise ValueError(f"one_hot_counts: planes must be >= 1, got {planes}")
    out = np.zeros((planes,) + counts.shape, dtype=np.float32)
    for i in range(planes):
        value = start + i
        out[i] = (counts >= value) if i == planes - 1 else (counts == value)
    return out


def _is_own_eye(stones: np.ndarray, r: int, c: int, colour: int) -> bool:
    """An empty point all of whose neighbours are the player's stones (a simple eye)."""
    return all(stones[n] == colour for n in _neighbours(r, c, stones.shape[0]))


def feature_planes(position: Position, *, bins: int = 8) -> torch.Tensor:
    """AlphaGo's input planes for ``position`` from the point of view of the player to move.

    Returns ``(NUM_PLANES, size, size)`` float32 (48 planes with ``bins=8``), in the order of
    :data:`PLANES`.  ``bins`` is the number of one-hot planes per count feature (8 in the paper);
    other values change the total ``8 + 5 * bins``.  Move features (capture size, self-atari size,
    liberties after move, sensibleness) are zero on illegal points; ladder planes are zero.
    """
    stones, player = position.stones, position.to_play
    size = stones.shape[0]
    legal = legal_moves(position).numpy()
    colour = np.stack([stones == player, stones == -player, stones == 0]).astype(np.float32)
    ones = np.ones((1, size, size), dtype=np.float32)
    ages = np.where(stones != 0, np.asarray(position.ages), 0)
    turns = one_hot_counts(ages, bins)
    libs = one_hot_counts(liberty_counts(stones), bins)
    capture = np.zeros((size, size), dtype=np.int64)
    self_atari = np.zeros((size, size), dtype=np.int64)
    libs_after = np.zeros((size, size), dtype=np.int64)
    sensible = np.zeros((1, size, size), dtype=np.float32)
    for r, c in zip(*np.nonzero(legal)):
        result = play(stones, r, c, player)
        capture[r, c] = result.captured
        libs_after[r, c] = result.liberties
        if result.liberties == 1:
            self_atari[r, c] = result.group_size
        sensible[0, r, c] = not _is_own_eye(stones, r, c, player)
    capture_planes = one_hot_counts(capture, bins, start=0) * legal
    planes = np.concatenate([
        colour, ones, turns, libs, capture_planes, one_hot_counts(self_atari, bins),
        one_hot_counts(libs_after, bins), np.zeros((2, size, size), np.float32), sensible,
        np.zeros((1, size, size), np.float32),
    ])
    return torch.from_numpy(planes)
