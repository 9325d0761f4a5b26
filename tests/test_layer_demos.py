"""course_lib.book.layer_demos: the measurements behind Chapter 3's figures."""
import math
import subprocess
import sys

import pytest
import torch

from course_lib import functional as cf
from course_lib.book import layer_demos as ld

pytestmark = pytest.mark.ch3


def test_import_has_no_side_effects():
    code = ("import sys, course_lib.book.layer_demos; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_digit_split_is_seeded_disjoint_and_scaled():
    split = ld.digit_split()
    again = ld.digit_split()
    assert [tuple(t.shape) for t in split] == [(1200, 64), (1200,), (597, 64), (597,)]
    assert all(torch.equal(a, b) for a, b in zip(split, again))
    assert split.X_train.dtype == torch.float32 and 0 <= split.X_train.min() and split.X_train.max() == 1
    assert set(split.y_train.tolist()) == set(range(10))
    rows = {tuple(r) for r in torch.cat([split.X_train, split.X_test]).tolist()}
    assert len(rows) > 1700                                     # every example once (few exact repeats)
    other = ld.digit_split(100, seed=1)
    assert len(other.X_train) == 100 and not torch.equal(other.X_train, split.X_train[:100])


@pytest.mark.parametrize("n_train", [0, 1797, 2.5, True])
def test_digit_split_rejects_bad_sizes(n_train):
    with pytest.raises(ValueError, match="n_train"):
        ld.digit_split(n_train)


def test_relative_difference():
    a = torch.tensor([3.0, 4.0], dtype=torch.float64)
    assert ld.relative_difference(a, a) == 0
    assert ld.relative_difference(a, torch.zeros(2, dtype=torch.float64)) == 1
    assert math.isclose(ld.relative_difference(a, a * 1.5), 0.5)
    with pytest.raises(ValueError, match="same shape"):
        ld.relative_difference(a, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="all zeros"):
        ld.relative_difference(torch.zeros(2), a.float())
    with pytest.raises(TypeError, match="b must be a torch.Tensor"):
        ld.relative_difference(a, [3.0, 4.0])


@pytest.mark.parametrize("name", list(ld.ACTIVATIONS))
def test_activation_table_derivatives_match_autograd(name):
    f, df = ld.ACTIVATIONS[name]
    x = torch.linspace(-4, 4, 41, dtype=torch.float64).add(0.013).requires_grad_(True)  # avoid the kink at 0
    f(x).sum().backward()
    torch.testing.assert_close(df(x.detach()), x.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_activation_module_matches_torch(name):
    x = torch.randn(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    reference = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
                 "leaky_relu": torch.nn.functional.leaky_relu}[name]
    torch.testing.assert_close(ld.Activation(name)(x), reference(x))
    with pytest.raises(ValueError, match="activation must be one of"):
        ld.Activation("softplus")


def test_deep_mlp_shapes_and_weight_scale():
    net = ld.deep_mlp("relu", in_features=400, out_features=3, depth=2, width=400, gain=2.0, batchnorm=True,
                      p_keep=0.5, seed=1)
    assert net(torch.randn(7, 400)).shape == (7, 3)
    first = net[0].weight
    assert first.shape == (400, 400)
    assert math.isclose(float(first.detach().std()), 2.0 / math.sqrt(400), rel_tol=0.02)
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Linear", "BatchNorm", "Activation", "Dropout"] * 2 + ["Linear"]
    again = ld.deep_mlp("relu", in_features=400, out_features=3, depth=2, width=400, gain=2.0, batchnorm=True,
                        p_keep=0.5, seed=1)
    torch.testing.assert_close(again[0].weight, first)


def test_train_classifier_lowers_the_loss_and_accuracy_is_measured_in_eval_mode():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(60, 4, generator=gen)
    y = (X[:, 0] > 0).long()
    net = ld.deep_mlp("tanh", in_features=4, out_features=2, depth=1, width=8, p_keep=0.5)
    history = ld.train_classifier(net, X, y, epochs=30, batch_size=20, lr=0.1)
    assert len(history) == 30 and history[-1] < 0.5 * history[0]
    net.train()
    assert ld.accuracy(net, X, y) > 0.9
    assert net.training, "accuracy() must restore the training flag"


def test_shift_change_is_zero_for_no_shift_and_pooling_helps_on_a_stripe_image():
    cols = torch.arange(64, dtype=torch.float64)
    image = (cols % 8 == 0).to(torch.float64).expand(16, 64).clone()  # thin vertical lines every 8 px

    def identity(x):
        return x

    def pool(x):
        return cf.max_pool2d_forward(x, kernel_size=8)[0]

    plain = ld.shift_change(image, identity, shifts=[0, 1, 2])
    pooled = ld.shift_change(image, identity, shifts=[0, 1, 2], pool=pool)
    assert plain[0] == ld.ShiftChange(0, 0.0, 1.0)
    assert plain[1].fraction_unchanged == 0.0 and plain[1].relative_change > 1.0
    # every 8-wide window still holds one line after a shift of 1 or 2: max pooling does not change
    assert all(r.relative_change == 0.0 and r.fraction_unchanged == 1.0 for r in pooled)


def test_shift_change_rejects_bad_shifts():
    with pytest.raises(ValueError, match="non-negative"):
        ld.shift_change(torch.zeros(4, 4), lambda x: x, shifts=[-1])
    with pytest.raises(ValueError, match="too narrow"):
        ld.shift_change(torch.zeros(4, 4), lambda x: x, shifts=[4])


def test_window_coverage():
    torch.testing.assert_close(ld.window_coverage(6, kernel_size=2, stride=2), torch.ones(6, 6, dtype=torch.float64))
    cover = ld.window_coverage(7, kernel_size=3, stride=2)  # 3 x 3 windows, overlapping on rows/cols 2 and 4
    assert cover.sum() == 9 * 9
    assert cover[0, 0] == 1 and cover[2, 0] == 2 and cover[2, 2] == 4 and cover[4, 4] == 4
    edge = ld.window_coverage(8, kernel_size=3, stride=2)  # the last column lies in no window
    assert edge[:, 7].sum() == 0 and edge[7].sum() == 0


def test_normalization_sets_match_the_layers():
    n, c, s = 4, 8, 6
    sets = ld._normalization_sets(n, c, s)
    bn, _ = sets["Batch norm"]
    lrn, (i, j, k) = sets["Local response norm (n = 5)"]
    assert bn.sum() == n * s and bn[:, c // 2].all()
    assert lrn.sum() == 5 and lrn[i, j - 2:j + 3, k].all()
    # LRN's output at (i, j, k) depends exactly on the channels the mask marks
    x = torch.randn(n, c, s, dtype=torch.float64, requires_grad=True)
    out, _ = cf.local_response_norm_forward(x, size=5)
    out[i, j, k].backward()
    assert torch.equal(x.grad != 0, lrn)


def test_thinned_networks_average_to_the_weight_scaled_network():
    gen = torch.Generator().manual_seed(0)
    hidden = torch.rand(5, 6, generator=gen, dtype=torch.float64)
    w = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    masks, scores = ld.thinned_network_logits(hidden, w, b, p_keep=0.5)
    assert masks.shape == (64, 6) and scores.shape == (64, 5, 3)
    assert len({tuple(m.tolist()) for m in masks}) == 64
    torch.testing.assert_close(scores.mean(dim=0), hidden @ w + b)  # linear: the mean of the ensemble
    one = ld.all_masks(6, dtype=torch.float64)[37]
    torch.testing.assert_close(scores[37], (hidden * one / 0.5) @ w + b)
    with pytest.raises(ValueError, match="from 1 to 16"):
        ld.all_masks(17)


def test_figures_draw():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = ld.plot_activations()
    assert len(axes[0].lines) == 4 + 2  # four curves and the two axis lines
    plt.close("all")
    for columns in (4, 2):
        fig = ld.plot_normalization_sets(columns=columns)
        assert len(fig.axes) == 4
        plt.close("all")
    with pytest.raises(ValueError, match="columns"):
        ld.plot_normalization_sets(columns=3)
