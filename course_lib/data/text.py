"""Sentence-classification data for Chapter 5: tokenizer, vocabulary, padding, corpora.

Nothing here downloads.  :func:`load_corpus` reads a real corpus from a local
folder when one is given and present:

* ``"mr"``: Pang and Lee's movie reviews, the files ``rt-polarity.pos`` and
  ``rt-polarity.neg`` (one sentence a line, Latin-1);
* ``"sst2"``: the GLUE SST-2 files ``train.tsv`` and ``dev.tsv`` (a header,
  then ``sentence<TAB>label``); the labelled ``dev.tsv`` serves as the test set;
* ``"trec"``: the TREC question files ``train_5500.label`` and ``TREC_10.label``
  (``COARSE:fine question ...``, Latin-1), six coarse classes;

and otherwise falls back, with a warning that says so, to the shipped
**grammar corpus** ``course_lib/data/sentiment_grammar.tsv``.

The grammar corpus
------------------
4000 short English movie-review sentences, each labelled negative (0) or
positive (1), written by :func:`generate_grammar_corpus` (seed 2014) from a
small grammar.  Three kinds of sentences, chosen so that the *order* of words
matters:

* ``plain`` (45 %): ``the plot was really clever``; the adjective decides.
* ``negated`` (30 %): ``the acting is not very good``, ``the plot was never
  dull``; a negator flips the adjective, which is as often positive as negative.
* ``contrast`` (25 %): ``the cast is superb but the script was not good``;
  two clauses of opposite sentiment, joined by ``but`` (the second clause
  decides) or started by ``although`` (``although A , B``: ``B`` decides).

Optional openers (``honestly ,``) and closers (``overall``) vary the length.
A bag of words sees the same words in ``not good`` and ``good``, and exactly
the same words in ``A but B`` and ``B but A``, so it cannot do well on the last
two kinds; a filter of width three reads ``not very good`` as one n-gram.  The
file stores ``label<TAB>kind<TAB>sentence`` so results can be broken down by
kind; :func:`generate_grammar_corpus` reproduces it exactly (a test checks).

Tensors for training
--------------------
:meth:`SentenceCorpus.dataset` returns ``TensorDataset(ids, labels)`` with
``ids: (N, L_max)`` int64 word indices padded with ``PAD_INDEX = 0`` at the
end, and ``labels: (N,)`` int64: what :func:`course_lib.train.fit` takes.
Models rebuild the mask as ``ids != PAD_INDEX``.
"""
from __future__ import annotations

import random
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import torch
from torch.utils.data import TensorDataset

__all__ = [
    "PAD",
    "UNK",
    "PAD_INDEX",
    "UNK_INDEX",
    "GRAMMAR_CORPUS_PATH",
    "tokenize",
    "Vocabulary",
    "pad_sequences",
    "generate_grammar_corpus",
    "read_grammar_corpus",
    "split_indices",
    "SentenceCorpus",
    "load_corpus",
    "load_word_vectors",
]

PAD, UNK = "<pad>", "<unk>"
PAD_INDEX, UNK_INDEX = 0, 1
GRAMMAR_CORPUS_PATH = Path(__file__).with_name("sentiment_grammar.tsv")
GRAMMAR_SEED = 2014
GRAMMAR_SIZE = 4000

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|n't|[^\sa-z0-9]")


def tokenize(sentence: str) -> list[str]:
    """Lower-case words and punctuation marks: ``"Not bad, really!" -> ['not', 'bad', ',', 'really', '!']``.

    Letters and digits form words (an apostrophe and letters stay attached,
    ``it's``); every other non-space character is a token of its own.
    """
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str, got {type(sentence).__name__}")
    return _TOKEN.findall(sentence.lower())


class Vocabulary:
    """Word <-> index table; index 0 is ``<pad>``, 1 is ``<unk>`` (every word not in the table).

    Build it from the training sentences only (:meth:`build`), so that words
    seen only in validation or test become ``<unk>``, as they would for new text.
    """

    def __init__(self, words: Iterable[str] = ()):
        self.itos: list[str] = [PAD, UNK]
        self.stoi: dict[str, int] = {PAD: PAD_INDEX, UNK: UNK_INDEX}
        for word in words:
            if word not in self.stoi:
                self.stoi[word] = len(self.itos)
                self.itos.append(word)

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], *, min_freq: int = 1) -> "Vocabulary":
        """The words that occur at least ``min_freq`` times, most frequent first (ties alphabetical)."""
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive int, got {min_freq!r}")
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = sorted((w for w, c in counts.items() if c >= min_freq and w not in (PAD, UNK)),
                      key=lambda w: (-counts[w], w))
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Indices of ``tokens``; unknown words give ``UNK_INDEX``."""
        return [self.stoi.get(token, UNK_INDEX) for token in tokens]

    def decode(self, ids: Iterable[int], *, skip_pad: bool = True) -> list[str]:
        """Words of ``ids`` (padding left out unless ``skip_pad=False``)."""
        return [self.itos[int(i)] for i in ids if not (skip_pad and int(i) == PAD_INDEX)]


def pad_sequences(sequences: Sequence[Sequence[int]], *, min_length: int = 1,
                  pad_index: int = PAD_INDEX) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad index lists at the end to one length.

    Args:
        sequences: ``N`` lists of word indices, each non-empty.
        min_length: the least padded length (e.g. the widest filter of a narrow convolution).
    Returns:
        ids: (N, L) int64 with ``L = max(min_length, longest sequence)``, and
        mask: (N, L) bool, True at real words.
    """
    if len(sequences) == 0:
        raise ValueError("pad_sequences needs at least one sequence")
    empty = [i for i, s in enumerate(sequences) if len(s) == 0]
    if empty:
        raise ValueError(f"sequences {empty[:5]} are empty; every sentence needs at least one token")
    length = max(min_length, max(len(s) for s in sequences))
    ids = torch.full((len(sequences), length), pad_index, dtype=torch.int64)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.as_tensor(list(seq), dtype=torch.int64)
    mask = torch.arange(length) < torch.tensor([len(s) for s in sequences])[:, None]
    return ids, mask


# ----------------------------------------------------------------------------
# The grammar corpus
# ----------------------------------------------------------------------------

_SUBJECTS = ["the movie", "the film", "the plot", "the acting", "the story", "the script", "the cast",
             "the ending", "the dialogue", "the soundtrack", "the pacing", "the direction"]
_VERBS = ["is", "was", "seems", "felt", "looked"]
_INTENSIFIERS = ["", "", "", "very", "really", "truly", "quite"]
_NEGATORS = ["not", "not", "never"]
_ADJECTIVES = {
    1: ["good", "great", "excellent", "wonderful", "delightful", "brilliant", "charming", "superb",
        "enjoyable", "clever"],
    0: ["bad", "awful", "boring", "dull", "terrible", "tedious", "weak", "poor", "clumsy", "dreadful"],
}
_OPENERS = ["", "", "", "honestly ,", "i think", "to be fair ,", "in my opinion ,"]
_CLOSERS = ["", "", "", "overall", "in the end", "from start to finish"]


def _clause(rng: random.Random, label: int) -> str:
    """One clause of sentiment ``label``: plain (60 %) or negated (40 %)."""
    subject, verb, more = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_INTENSIFIERS)
    if rng.random() < 0.6:
        words = [subject, verb, more, rng.choice(_ADJECTIVES[label])]
    else:
        words = [subject, *_negation(rng, verb), more, rng.choice(_ADJECTIVES[1 - label])]
    return " ".join(w for w in words if w)


def _negation(rng: random.Random, verb: str) -> list[str]:
    """``verb`` and a negator: ``was not``, ``felt not``; ``never`` only after ``is`` / ``was``."""
    negator = rng.choice(_NEGATORS)
    return [verb if negator == "not" else rng.choice(["is", "was"]), negator]


def generate_grammar_corpus(n: int = GRAMMAR_SIZE, *, seed: int = GRAMMAR_SEED) -> list[tuple[int, str, str]]:
    """``n`` sentences ``(label, kind, sentence)`` from the grammar described in the module docstring.

    Labels alternate (exactly balanced classes); the kind is drawn with
    probabilities 0.45 plain, 0.30 negated, 0.25 contrast.  Deterministic for a
    given ``seed`` (Python's ``random.Random``).
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = i % 2
        u = rng.random()
        subject, verb, more = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_INTENSIFIERS)
        if u < 0.45:
            kind, words = "plain", [subject, verb, more, rng.choice(_ADJECTIVES[label])]
        elif u < 0.75:
            kind = "negated"
            words = [subject, *_negation(rng, verb), more, rng.choice(_ADJECTIVES[1 - label])]
        else:
            kind = "contrast"
            first, second = _clause(rng, 1 - label), _clause(rng, label)
            words = [first, "but", second] if rng.random() < 0.7 else ["although", first, ",", second]
        words = [rng.choice(_OPENERS), *words, rng.choice(_CLOSERS)]
        rows.append((label, kind, " ".join(w for w in words if w)))
    rng.shuffle(rows)
    return rows


def write_grammar_corpus(path: str | Path = GRAMMAR_CORPUS_PATH) -> Path:
    """Write :func:`generate_grammar_corpus` to ``path`` (``label<TAB>kind<TAB>sentence``, with a header)."""
    path = Path(path)
    lines = ["label\tkind\tsentence"] + [f"{label}\t{kind}\t{text}" for label, kind, text in generate_grammar_corpus()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_grammar_corpus(path: str | Path = GRAMMAR_CORPUS_PATH) -> list[tuple[int, str, str]]:
    """The rows ``(label, kind, sentence)`` of the shipped grammar corpus file."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    if not lines or lines[0] != "label\tkind\tsentence":
        raise ValueError(f"{path} is not a grammar corpus file (header 'label<TAB>kind<TAB>sentence' missing)")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{path}, line {number}: expected 3 tab-separated fields, got {len(parts)}")
        rows.append((int(parts[0]), parts[1], parts[2]))
    return rows


# ----------------------------------------------------------------------------
# Splits and the corpus object
# ----------------------------------------------------------------------------

def split_indices(n: int, *, seed: int = 0, fractions: tuple[float, float] = (0.8, 0.1)
                  ) -> tuple[list[int], list[int], list[int]]:
    """A seeded random split of ``range(n)`` into train, validation and test index lists.

    ``fractions`` are the train and validation shares; the test set gets the rest
    (nothing when they add up to 1).
    The same ``n`` and ``seed`` always give the same split.
    """
    train_f, val_f = fractions
    if not (0 < train_f < 1 and 0 <= val_f < 1 and train_f + val_f <= 1):
        raise ValueError(f"fractions must be (train, val) with 0 < train, 0 <= val and train + val <= 1, got {fractions}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_train, n_val = int(round(train_f * n)), int(round(val_f * n))
    return order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]


@dataclass
class SentenceCorpus:
    """A labelled sentence corpus split into train / val / test, with its vocabulary.

    Attributes:
        name: ``"grammar"``, ``"mr"``, ``"sst2"`` or ``"trec"``.
        classes: class names, index = label.
        sentences, labels, kinds: per split (``"train"``, ``"val"``, ``"test"``), the
            raw sentences, their int labels and (grammar corpus only, else ``"-"``) kinds.
        vocab: built from the training sentences.
        source: where the data came from, in words.
    """

    name: str
    classes: list[str]
    sentences: dict[str, list[str]]
    labels: dict[str, list[int]]
    kinds: dict[str, list[str]]
    vocab: Vocabulary
    source: str
    tokens: dict[str, list[list[str]]] = field(default_factory=dict)

    def __post_init__(self):
        if not self.tokens:
            self.tokens = {split: [tokenize(s) for s in sents] for split, sents in self.sentences.items()}

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def max_length(self) -> int:
        return max(len(t) for toks in self.tokens.values() for t in toks)

    def encode(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, mask)`` of a split, padded to the longest sentence of the whole corpus."""
        return pad_sequences([self.vocab.encode(t) for t in self._split(split, self.tokens)],
                             min_length=self.max_length)

    def dataset(self, split: str) -> TensorDataset:
        """``TensorDataset(ids (N, L) int64, labels (N,) int64)`` of ``split``, for :func:`course_lib.train.fit`."""
        ids, _ = self.encode(split)
        return TensorDataset(ids, torch.tensor(self._split(split, self.labels), dtype=torch.int64))

    def _split(self, split: str, table: dict):
        if split not in table:
            raise KeyError(f"no split {split!r}; the splits are {sorted(table)}")
        return table[split]


def _from_rows(name, classes, rows_by_split, source, min_freq) -> SentenceCorpus:
    sentences = {s: [r[2] for r in rows] for s, rows in rows_by_split.items()}
    tokens = {s: [tokenize(t) for t in sents] for s, sents in sentences.items()}
    return SentenceCorpus(
        name=name, classes=classes, sentences=sentences,
        labels={s: [r[0] for r in rows] for s, rows in rows_by_split.items()},
        kinds={s: [r[1] for r in rows] for s, rows in rows_by_split.items()},
        vocab=Vocabulary.build(tokens["train"], min_freq=min_freq), source=source, tokens=tokens)


def _split_rows(rows, seed, fractions=(0.8, 0.1)) -> dict[str, list]:
    train, val, test = split_indices(len(rows), seed=seed, fractions=fractions)
    return {"train": [rows[i] for i in train], "val": [rows[i] for i in val], "test": [rows[i] for i in test]}


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="latin-1").splitlines() if line.strip()]


def _load_mr(root: Path, seed: int):
    pos, neg = root / "rt-polarity.pos", root / "rt-polarity.neg"
    if not (pos.is_file() and neg.is_file()):
        return None
    rows = [(1, "-", s) for s in _read_lines(pos)] + [(0, "-", s) for s in _read_lines(neg)]
    return ["negative", "positive"], _split_rows(rows, seed), f"MR from {root} (seeded 80/10/10 split)"


def _read_sst2(path: Path) -> list:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t")[:2] != ["sentence", "label"]:
        raise ValueError(f"{path} is not a GLUE SST-2 file (header 'sentence<TAB>label' missing)")
    return [(int(label), "-", text) for text, label in (line.rsplit("\t", 1) for line in lines[1:] if line)]


def _with_test_file(read, train: Path, test: Path, seed: int):
    """Splits of a corpus with an official labelled test file: 10% of ``train`` (seeded) becomes val."""
    if not (train.is_file() and test.is_file()):
        return None
    rows = read(train)
    tr, va, _ = split_indices(len(rows), seed=seed, fractions=(0.9, 0.1))
    return {"train": [rows[i] for i in tr], "val": [rows[i] for i in va], "test": read(test)}


def _load_sst2(root: Path, seed: int):
    splits = _with_test_file(_read_sst2, root / "train.tsv", root / "dev.tsv", seed)
    return splits and (["negative", "positive"], splits, f"SST-2 from {root} (dev.tsv as test, 10% of train as val)")


_TREC_CLASSES = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _read_trec(path: Path) -> list:
    rows = []
    for line in _read_lines(path):
        label, _, text = line.partition(" ")
        coarse = label.split(":")[0]
        if coarse not in _TREC_CLASSES:
            raise ValueError(f"{path}: unknown TREC class {label!r} in line {line[:60]!r}")
        rows.append((_TREC_CLASSES.index(coarse), "-", text))
    return rows


def _load_trec(root: Path, seed: int):
    splits = _with_test_file(_read_trec, root / "train_5500.label", root / "TREC_10.label", seed)
    return splits and (list(_TREC_CLASSES), splits, f"TREC from {root} (TREC_10 as test, 10% of train as val)")


_LOADERS = {"mr": (_load_mr, "rt-polarity.pos and rt-polarity.neg"),
            "sst2": (_load_sst2, "train.tsv and dev.tsv (GLUE SST-2)"),
            "trec": (_load_trec, "train_5500.label and TREC_10.label")}


def load_corpus(name: str = "grammar", path: str | Path | None = None, *, seed: int = 0,
                min_freq: int = 1) -> SentenceCorpus:
    """A :class:`SentenceCorpus`, read from disk; never downloads.

    Args:
        name: ``"grammar"`` (the shipped corpus) or ``"mr"``, ``"sst2"``, ``"trec"``.
        path: the folder holding the real corpus's files (see the module docstring).
            If it is None or lacks them, the grammar corpus is used and a
            ``UserWarning`` says so.
        seed: seeds the train / val / test split (80 / 10 / 10 where the corpus has no official split).
        min_freq: words seen fewer times in the training split become ``<unk>``.
    """
    if name != "grammar" and name not in _LOADERS:
        raise ValueError(f"unknown corpus {name!r}; choose 'grammar', {', '.join(repr(k) for k in _LOADERS)}")
    if name in _LOADERS:
        loader, files = _LOADERS[name]
        found = loader(Path(path), seed) if path is not None and Path(path).is_dir() else None
        if found is not None:
            classes, splits, source = found
            return _from_rows(name, classes, splits, source, min_freq)
        warnings.warn(f"corpus {name!r}: no {files} in {path!r}; nothing is downloaded, so the shipped grammar "
                      f"corpus ({GRAMMAR_CORPUS_PATH.name}) is used instead", UserWarning, stacklevel=2)
    rows = read_grammar_corpus()
    return _from_rows("grammar", ["negative", "positive"], _split_rows(rows, seed),
                      f"grammar corpus {GRAMMAR_CORPUS_PATH.name} ({len(rows)} sentences, seeded 80/10/10 split)",
                      min_freq)


def load_word_vectors(path: str | Path, vocab: Vocabulary, *, seed: int = 0) -> tuple[torch.Tensor, int]:
    """Embedding matrix for ``vocab`` from a local word2vec or GloVe **text** file.

    Each line is ``word v1 v2 ... vE``; a first line ``count E`` (word2vec's
    header) is skipped.  Words of ``vocab`` missing from the file get random
    vectors ``U(-a, a)`` with ``a`` chosen so their variance equals that of the
    file's vectors (as Kim, 2014, does); ``<pad>`` is the zero vector.

    Returns:
        (weights (len(vocab), E) float32, number of vocabulary words found in the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no word-vector file at {path}; pretrained vectors are only read from a local file")
    found: dict[int, list[float]] = {}
    dim = None
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise ValueError(f"{path}, line {number}: {len(parts) - 1} numbers, but earlier lines have {dim}")
            index = vocab.stoi.get(parts[0])
            if index is not None and index != PAD_INDEX:
                found[index] = [float(v) for v in parts[1:]]
    if dim is None:
        raise ValueError(f"{path} holds no word vectors (expected text lines 'word v1 ... vE'; binary files are not read)")
    gen = torch.Generator().manual_seed(seed)
    known = torch.tensor(list(found.values()), dtype=torch.float32) if found else torch.zeros(0, dim)
    variance = known.var().item() if known.numel() > 1 else 1.0 / dim
    a = (3.0 * variance) ** 0.5  # U(-a, a) has variance a^2 / 3
    weights = (torch.rand(len(vocab), dim, generator=gen) * 2 - 1) * a
    for index, vector in found.items():
        weights[index] = torch.tensor(vector)
    weights[PAD_INDEX] = 0.0
    return weights, len(found)
