"""course_lib.data.images: the offline digits as image tensors, splits, and the MNIST/CIFAR fallback."""
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sk_digits

from course_lib.data import images
from course_lib.data.images import Splits, load_digits, load_image_dataset

pytestmark = pytest.mark.ch4


@pytest.mark.parametrize("size", [8, 16, 32])
def test_digits_shapes_dtypes_and_range(size):
    splits = load_digits(size)
    assert isinstance(splits, Splits)
    total = 0
    for part in splits:
        x, y = part.tensors
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (1, size, size) and y.shape == (x.shape[0],)
        assert 0.0 <= x.min() and x.max() <= 1.0
        total += len(y)
    assert total == 1797


def test_digits_at_native_size_are_the_scaled_originals():
    data = sk_digits()
    x, y = load_digits(8, val_fraction=0.0, test_fraction=0.0).train.tensors
    # the train split is a permutation of everything: match images via their labels and pixels
    ours = sorted(map(tuple, np.concatenate([x.flatten(1).numpy() * 16, y[:, None].numpy()], 1).round(4)))
    ref = sorted(map(tuple, np.concatenate([data.data, data.target[:, None]], 1).astype(np.float32).round(4)))
    assert ours == ref


def test_resize_is_bilinear():
    x8 = load_digits(8, seed=3).test.tensors[0]
    x32 = load_digits(32, seed=3).test.tensors[0]
    expected = torch.nn.functional.interpolate(x8, size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(x32, expected.clamp(0, 1))


def test_split_is_disjoint_stratified_and_seeded():
    a = load_digits(8, seed=1)
    b = load_digits(8, seed=1)
    c = load_digits(8, seed=2)
    for pa, pb in zip(a, b):
        assert torch.equal(pa.tensors[0], pb.tensors[0]) and torch.equal(pa.tensors[1], pb.tensors[1])
    assert not torch.equal(a.test.tensors[1], c.test.tensors[1])
    rows = {tuple(r) for part in a for r in part.tensors[0].flatten(1).tolist()}
    # digits holds a few duplicate images, so count rows per split instead of a global set
    assert sum(len(p) for p in a) == 1797 and len(rows) <= 1797
    counts = np.bincount(sk_digits().target)
    test_counts = torch.bincount(a.test.tensors[1], minlength=10).numpy()
    val_counts = torch.bincount(a.val.tensors[1], minlength=10).numpy()
    np.testing.assert_array_equal(test_counts, np.round(0.15 * counts).astype(int))
    np.testing.assert_array_equal(val_counts, np.round(0.15 * counts).astype(int))
    # the splits are not ordered by class
    assert not torch.equal(a.train.tensors[1], a.train.tensors[1].sort().values)


def test_split_indices_partition_everything():
    y = sk_digits().target
    tr, va, te = images._stratified_split(y, 0.2, 0.1, seed=0)
    allidx = np.concatenate([tr, va, te])
    assert sorted(allidx.tolist()) == list(range(len(y)))


@pytest.mark.parametrize("kwargs, word", [({"val_fraction": 0.6, "test_fraction": 0.5}, "must be < 1"),
                                          ({"val_fraction": -0.1}, "val_fraction"),
                                          ({"test_fraction": 1.0}, "test_fraction")])
def test_bad_fractions_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        load_digits(8, **kwargs)


def test_bad_size_and_name():
    with pytest.raises(ValueError, match="size"):
        load_digits(0)
    with pytest.raises(ValueError, match="unknown data set 'imagenet'"):
        load_image_dataset("imagenet")


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_missing_dataset_falls_back_to_digits_with_a_warning(name, tmp_path):
    with pytest.warns(UserWarning, match=f"{name} was not found under {tmp_path}"):
        splits = load_image_dataset(name, tmp_path, size=16)
    assert splits.train.tensors[0].shape[1:] == (1, 16, 16)
    assert sum(len(p) for p in splits) == 1797


def test_digits_by_name_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = load_image_dataset("digits", size=8, seed=4)
    assert torch.equal(splits.test.tensors[0], load_digits(8, seed=4).test.tensors[0])


def test_local_mnist_is_read_without_download(tmp_path):
    """A tiny MNIST in torchvision's raw layout is found and split; nothing is fetched."""
    import struct

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def write(stem, n):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        (raw / f"{stem}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, n, 28, 28) + imgs.tobytes())
        (raw / f"{stem}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, n) + labels.tobytes())
        return imgs, labels

    train_imgs, _ = write("train", 40)
    test_imgs, test_labels = write("t10k", 20)
    splits = load_image_dataset("mnist", tmp_path, seed=0, val_fraction=0.25)
    assert [len(p) for p in splits] == [30, 10, 20]
    x, y = splits.test.tensors
    assert x.shape == (20, 1, 28, 28) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, 0], torch.from_numpy(test_imgs).float() / 255)
    assert y.tolist() == test_labels.tolist()
