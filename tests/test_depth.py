"""course_lib.book.depth: the gradient's size layer by layer, against what the layers must do to it."""
import pytest

from course_lib.book.depth import gradient_norms_by_depth

pytestmark = pytest.mark.ch1


@pytest.mark.parametrize("gain", [0.5, 0.9, 1.0, 1.5])
def test_linear_gradient_norm_scales_by_gain_per_layer(gain):
    norms = gradient_norms_by_depth(10, gain)
    assert norms[-1] == pytest.approx(1.0)
    for layer in range(11):
        assert norms[layer] == pytest.approx(gain ** (10 - layer), rel=1e-9)


def test_sigmoid_network_vanishes():
    norms = gradient_norms_by_depth(20, 1.0, activation="sigmoid")
    assert norms[0] < 0.25**10  # sigmoid' <= 1/4 per layer


def test_same_seed_same_norms_other_seed_other_norms():
    a = gradient_norms_by_depth(6, 1.0, activation="tanh", seed=3)
    assert a == gradient_norms_by_depth(6, 1.0, activation="tanh", seed=3)
    assert a != gradient_norms_by_depth(6, 1.0, activation="tanh", seed=4)


def test_gradient_norms_argument_errors():
    with pytest.raises(ValueError, match="depth"):
        gradient_norms_by_depth(0, 1.0)
    with pytest.raises(ValueError, match="activation"):
        gradient_norms_by_depth(3, 1.0, activation="swish")
