"""Kim's CNN and the DCNN (course_lib.models.text) and the sentence data (course_lib.data.text)."""
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import grading
from course_lib.data import text as dt
from course_lib.models import get_model, list_models
from course_lib.models.text import DCNN, KimCNN
from course_lib.train import fit

pytestmark = pytest.mark.ch5

DEVICES = [pytest.param(d, id=str(d)) for d in grading.test_devices()]
VOCAB = 30


def random_ids(lengths, seed, vocab=VOCAB):
    gen = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(2, vocab, (n,), generator=gen).tolist() for n in lengths]
    return dt.pad_sequences(seqs)[0]


def small_kim(**kw):
    torch.manual_seed(0)
    return KimCNN(VOCAB, 3, embed_dim=6, maps=4, **kw).double().eval()


def small_dcnn(**kw):
    torch.manual_seed(0)
    return DCNN(VOCAB, 3, embed_dim=6, widths=(3, 2), maps=(2, 3), k_top=2, **kw).double().eval()


# ----------------------------------------------------------------------------- models

def test_registry_has_both_models():
    assert {"kim_cnn", "dcnn"} <= set(list_models())
    assert isinstance(get_model("kim_cnn", vocab_size=10), KimCNN)
    assert isinstance(get_model("dcnn", vocab_size=10), DCNN)


def test_paper_sizes():
    kim = get_model("kim_cnn", vocab_size=1000)
    assert [tuple(w.shape) for w in kim.weights] == [(100, 3, 300), (100, 4, 300), (100, 5, 300)]
    assert kim.output.in_features == 300 and kim.dropout.p == 0.5 and kim.max_norm == 3.0
    net = get_model("dcnn", vocab_size=1000)
    assert [tuple(w.shape) for w in net.weights] == [(6, 1, 7, 48), (14, 6, 5, 48)]
    assert net.output.in_features == 4 * 14 * 24


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [small_kim, small_dcnn], ids=["kim", "dcnn"])
@settings(max_examples=10, deadline=None)
@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=5), extra=st.integers(0, 6),
       seed=st.integers(0, 2**31 - 1))
def test_padding_never_changes_a_prediction(device, make, lengths, extra, seed):
    model = make().to(device)
    batch = random_ids(lengths, seed)
    batch = torch.cat([batch, torch.zeros(len(lengths), extra, dtype=torch.int64)], dim=1).to(device)
    with torch.no_grad():
        together = model(batch)
        assert together.shape == (len(lengths), 3)
        for i, n in enumerate(lengths):
            alone = model(batch[i:i + 1, :n])
            torch.testing.assert_close(together[i:i + 1], alone, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["rand", "static", "non-static", "multichannel"])
def test_kim_embedding_modes(mode):
    pretrained = torch.randn(VOCAB, 6)
    torch.manual_seed(0)
    model = KimCNN(VOCAB, 2, embed_dim=6, maps=4, mode=mode, pretrained=None if mode == "rand" else pretrained)
    ids = random_ids([5, 3], 1)
    model(ids).sum().backward()
    trained = model.embedding.weight.grad is not None and model.embedding.weight.requires_grad
    assert trained == (mode != "static")
    if mode != "rand":
        torch.testing.assert_close(model.embedding.weight[2:], pretrained[2:])
    if mode == "multichannel":
        assert not model.static_embedding.weight.requires_grad
        assert model.embedding.weight.data_ptr() != model.static_embedding.weight.data_ptr()
    else:
        assert model.static_embedding is None
    assert model.weights[0].grad is not None


def test_kim_bad_arguments():
    with pytest.raises(ValueError, match="needs pretrained"):
        KimCNN(VOCAB, 2, mode="static")
    with pytest.raises(ValueError, match="mode must be one of"):
        KimCNN(VOCAB, 2, mode="frozen")
    with pytest.raises(ValueError, match="pretrained has shape"):
        KimCNN(VOCAB, 2, embed_dim=6, mode="static", pretrained=torch.randn(VOCAB, 5))
    with pytest.raises(ValueError, match="padded at the end"):
        small_kim()(torch.tensor([[3, 0, 4]]))
    with pytest.raises(ValueError, match="all padding"):
        small_kim()(torch.tensor([[3, 4], [0, 0]]))
    with pytest.raises(TypeError, match="int64"):
        small_kim()(torch.randn(2, 3))
    with pytest.raises(ValueError, match="even"):
        DCNN(VOCAB, 2, embed_dim=7)


def test_kim_max_norm_rescales_only_long_rows():
    model = small_kim()
    with torch.no_grad():
        model.output.weight.copy_(torch.tensor([[3.0, 4.0] + [0.0] * 10, [0.6, 0.8] + [0.0] * 10,
                                                [0.0] * 11 + [10.0]], dtype=torch.float64))
    model.after_step()
    torch.testing.assert_close(model.output.weight.norm(dim=1), torch.tensor([3.0, 1.0, 3.0], dtype=torch.float64))
    torch.testing.assert_close(model.output.weight[0, :2], torch.tensor([1.8, 2.4], dtype=torch.float64))


def test_fit_applies_the_max_norm_after_each_step():
    torch.manual_seed(0)
    model = KimCNN(VOCAB, 2, embed_dim=6, maps=4, max_norm=0.05)
    ids = random_ids([4, 6, 2, 5], 3)
    data = torch.utils.data.TensorDataset(ids, torch.tensor([0, 1, 0, 1]))
    fit(model, data, epochs=2, lr=0.5, batch_size=2, device="cpu", progress=False)
    assert float(model.output.weight.detach().norm(dim=1).max()) <= 0.05 + 1e-6


def test_dcnn_trace_follows_the_paper_example():
    """Two layers, s = 9, k_top = 2: k_1 = max(2, ceil(9 / 2)) = 5; shapes step by step."""
    model = small_dcnn()
    steps = model.trace(random_ids([9], 0))
    assert steps == [("embedding", (1, 9, 1, 6)),
                     ("layer 1: wide convolution (width 3)", (1, 11, 2, 6)),
                     ("layer 1: 5-max pooling", (1, 5, 2, 6)),
                     ("layer 2: wide convolution (width 2)", (1, 6, 3, 6)),
                     ("layer 2: folding", (1, 6, 3, 3)),
                     ("layer 2: 2-max pooling", (1, 2, 3, 3))]


@pytest.mark.parametrize("make", [small_kim, small_dcnn], ids=["kim", "dcnn"])
def test_models_learn_a_tiny_task(make):
    """Label = whether word 2 is followed by word 3 anywhere: order matters, the model fits it."""
    gen = torch.Generator().manual_seed(0)
    seqs, labels = [], []
    for i in range(48):
        seq = torch.randint(4, VOCAB, (int(torch.randint(4, 9, (1,), generator=gen)),), generator=gen).tolist()
        at = int(torch.randint(0, len(seq) - 1, (1,), generator=gen))
        seq[at:at + 2] = [2, 3] if i % 2 else [3, 2]
        seqs.append(seq)
        labels.append(i % 2)
    data = torch.utils.data.TensorDataset(dt.pad_sequences(seqs)[0], torch.tensor(labels))
    model = make(dropout=0.0).float().train()
    history = fit(model, data, epochs=40, lr=0.02, batch_size=16, optimizer="adam", device="cpu", progress=False)
    assert history.train_acc[-1] == 1.0


# ----------------------------------------------------------------------------- data

def test_tokenizer_and_vocabulary():
    assert dt.tokenize("Not bad, REALLY!") == ["not", "bad", ",", "really", "!"]
    assert dt.tokenize("it's fine") == ["it's", "fine"]
    vocab = dt.Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode(["a", "c", "b"]) == [2, dt.UNK_INDEX, 3]
    assert vocab.decode([2, 3, 0, 0]) == ["a", "b"]
    with pytest.raises(TypeError):
        dt.tokenize(None)


def test_pad_sequences():
    ids, mask = dt.pad_sequences([[5, 6, 7], [8]], min_length=4)
    assert ids.tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert mask.tolist() == [[True, True, True, False], [True, False, False, False]]
    with pytest.raises(ValueError, match="empty"):
        dt.pad_sequences([[1], []])


def test_shipped_corpus_is_the_grammar_output():
    assert dt.read_grammar_corpus() == dt.generate_grammar_corpus()


def test_grammar_corpus_splits_are_fixed_and_disjoint():
    a, b = dt.load_corpus(seed=0), dt.load_corpus(seed=0)
    assert a.sentences == b.sentences and a.vocab.itos == b.vocab.itos
    assert {k: len(v) for k, v in a.sentences.items()} == {"train": 3200, "val": 400, "test": 400}
    assert dt.load_corpus(seed=1).sentences["test"] != a.sentences["test"]
    ids, labels = a.dataset("train").tensors
    assert ids.dtype == labels.dtype == torch.int64 and ids.shape == (3200, a.max_length)
    assert set(a.kinds["train"]) == {"plain", "negated", "contrast"}
    assert sum(labels.tolist()) == pytest.approx(1600, rel=0.1)


def test_real_corpus_missing_falls_back_with_a_message(tmp_path):
    with pytest.warns(UserWarning, match="rt-polarity.pos"):
        corpus = dt.load_corpus("mr", tmp_path)
    assert corpus.name == "grammar"
    with pytest.raises(ValueError, match="unknown corpus"):
        dt.load_corpus("imdb")


def test_real_corpus_formats_are_read(tmp_path):
    (tmp_path / "rt-polarity.pos").write_text("\n".join(f"a fine film {i}" for i in range(20)), encoding="latin-1")
    (tmp_path / "rt-polarity.neg").write_text("\n".join(f"a dull film {i}" for i in range(20)), encoding="latin-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mr = dt.load_corpus("mr", tmp_path)
    assert mr.name == "mr" and sum(len(v) for v in mr.sentences.values()) == 40
    (tmp_path / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"good {i}\t1\nbad {i}\t0\n" for i in range(10)))
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nfine\t1\nawful\t0\n")
    sst = dt.load_corpus("sst2", tmp_path)
    assert sst.labels["test"] == [1, 0] and len(sst.sentences["train"]) == 18
    (tmp_path / "train_5500.label").write_text("".join(f"HUM:ind Who is {i} ?\nLOC:city Where is {i} ?\n"
                                                       for i in range(10)), encoding="latin-1")
    (tmp_path / "TREC_10.label").write_text("NUM:date When was it ?\n", encoding="latin-1")
    trec = dt.load_corpus("trec", tmp_path)
    assert trec.num_classes == 6 and trec.labels["test"] == [trec.classes.index("NUM")]


def test_word_vectors_from_a_local_text_file(tmp_path):
    vocab = dt.Vocabulary(["good", "bad", "plot"])
    path = tmp_path / "vectors.txt"
    path.write_text("3 2\ngood 1.0 2.0\nbad -1.0 0.5\nunused 9 9\n")
    weights, found = dt.load_word_vectors(path, vocab)
    assert found == 2 and weights.shape == (5, 2)
    torch.testing.assert_close(weights[vocab.stoi["good"]], torch.tensor([1.0, 2.0]))
    assert weights[dt.PAD_INDEX].abs().sum() == 0 and weights[vocab.stoi["plot"]].abs().sum() > 0
    with pytest.raises(FileNotFoundError, match="local file"):
        dt.load_word_vectors(tmp_path / "missing.txt", vocab)
