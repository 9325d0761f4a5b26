"""Figures and tables of Chapter 5 (convolutional networks for text).

* :func:`draw_ngram_convolution`: a sentence matrix, one filter window on it,
  and the feature sequence the filter produces;
* :func:`bag_of_words_baseline`: logistic regression on word counts;
* :func:`accuracy_by_kind`: accuracy per sentence kind of the grammar corpus;
* :func:`top_ngrams`: the phrases on which each filter of a Kim CNN fires most;
* :func:`plot_kmax_steps`: a feature sequence before and after k-max pooling.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["draw_ngram_convolution", "bag_of_words_baseline", "accuracy_by_kind", "top_ngrams",
           "plot_kmax_steps"]


def draw_ngram_convolution(tokens, x: torch.Tensor, w: torch.Tensor, out: torch.Tensor, *, position: int,
                           padding: int = 0, title: str = "") -> plt.Figure:
    """Three panels: the sentence matrix ``x: (L, E)`` (window at ``position`` outlined),
    the filter ``w: (width, E)`` and the filter's output ``out: (L_out,)`` (the chosen position marked).

    ``padding`` zero rows are drawn above and below the words (a wide convolution).
    """
    width = w.shape[0]
    labels = ["<0>"] * padding + list(tokens) + ["<0>"] * padding
    xp = torch.cat([x.new_zeros(padding, x.shape[1]), x, x.new_zeros(padding, x.shape[1])]).cpu().numpy()
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.35 * len(labels) + 1.6),
                             gridspec_kw={"width_ratios": [x.shape[1], w.shape[1], 3]})
    ax = axes[0]
    ax.imshow(xp, cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    ax.set_yticks(range(len(labels)), labels)
    ax.add_patch(plt.Rectangle((-0.5, position - 0.5), xp.shape[1], width, fill=False, lw=3, color="black"))
    ax.set(title="sentence matrix (one row per word)", xlabel="embedding dimension e")
    axes[1].imshow(w.cpu().numpy(), cmap="RdBu_r", vmin=-2, vmax=2, aspect="auto")
    axes[1].set_yticks(range(width), [f"word {u + 1}" for u in range(width)])
    axes[1].set(title=f"filter (width {width})", xlabel="embedding dimension e")
    values = out.detach().cpu().numpy()
    colours = ["tab:orange" if t == position else "tab:blue" for t in range(len(values))]
    axes[2].barh(range(len(values)), values, color=colours)
    axes[2].set_yticks(range(len(values)), [" ".join(labels[t:t + width]) for t in range(len(values))], fontsize=8)
    axes[2].invert_yaxis()
    axes[2].yaxis.tick_right()
    axes[2].set(title="filter output per window", xlabel="activation (dot product + bias)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def bag_of_words_baseline(corpus, *, seed: int = 0):
    """Logistic regression (scikit-learn, L2, ``C = 1``) on word counts of ``corpus``'s train split.

    Returns ``(predict, vectorizer, classifier)`` where ``predict(split) -> np.ndarray`` of labels.
    """
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    from ..data.text import tokenize

    vectorizer = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    counts = vectorizer.fit_transform(corpus.sentences["train"])
    classifier = LogisticRegression(max_iter=2000, random_state=seed).fit(counts, corpus.labels["train"])

    def predict(split: str) -> np.ndarray:
        return classifier.predict(vectorizer.transform(corpus.sentences[split]))

    return predict, vectorizer, classifier


def accuracy_by_kind(predictions: np.ndarray, corpus, split: str = "test") -> dict[str, float]:
    """Accuracy on ``split`` overall (key ``"all"``) and per sentence kind, in percent."""
    labels = np.asarray(corpus.labels[split])
    kinds = np.asarray(corpus.kinds[split])
    predictions = np.asarray(predictions)
    table = {"all": 100.0 * float((predictions == labels).mean())}
    for kind in sorted(set(kinds)):
        chosen = kinds == kind
        table[kind] = 100.0 * float((predictions[chosen] == labels[chosen]).mean())
    return table


@torch.no_grad()
def top_ngrams(model, corpus, *, width_index: int = 0, split: str = "train", top: int = 5,
               filters=None) -> dict[int, list[tuple[str, float]]]:
    """The phrases that excite each filter of one width of a :class:`~course_lib.models.text.KimCNN` most.

    Every window of ``split`` that lies wholly inside its sentence (no padding)
    is scored by the filter (after its ReLU); each distinct n-gram keeps its
    highest score.  Returns ``{filter: [(n-gram, activation), ...]}``, the
    ``top`` highest first.
    """
    model.eval()
    ids, _ = corpus.encode(split)
    device = next(model.parameters()).device
    maps, lengths = model.features(ids.to(device))
    width = model.widths[width_index]
    fmap = maps[width_index].cpu()                                # (N, L + width - 1, F), wide positions
    lengths = lengths.cpu()
    best: dict[int, dict[str, float]] = {f: {} for f in range(fmap.shape[2])}
    for n in range(ids.shape[0]):
        words = [corpus.vocab.itos[int(i)] for i in ids[n, :int(lengths[n])]]
        for start in range(len(words) - width + 1):               # window of words start .. start + width - 1
            phrase = " ".join(words[start:start + width])
            scores = fmap[n, start + width - 1]                   # wide position of that window
            for f in range(fmap.shape[2]):
                value = float(scores[f])
                if value > best[f].get(phrase, float("-inf")):
                    best[f][phrase] = value
    chosen = range(fmap.shape[2]) if filters is None else filters
    return {f: sorted(best[f].items(), key=lambda item: (-item[1], item[0]))[:top] for f in chosen}


def plot_kmax_steps(values: torch.Tensor, kept: torch.Tensor, *, tokens=None, title: str = "") -> plt.Figure:
    """Bar chart of one feature over time, ``values: (L,)``, with the k-max positions ``kept`` highlighted."""
    values = values.detach().cpu().numpy()
    kept_set = set(int(i) for i in kept)
    fig, ax = plt.subplots(figsize=(8, 2.6))
    ax.bar(range(len(values)), values, color=["tab:orange" if t in kept_set else "lightgray"
                                               for t in range(len(values))])
    if tokens is not None:
        ax.set_xticks(range(len(values)), tokens, rotation=60, fontsize=8)
    ax.set(title=title, xlabel="position in the sequence", ylabel="feature value")
    fig.tight_layout()
    return fig
