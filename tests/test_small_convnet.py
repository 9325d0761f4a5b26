"""course_lib's small convnet for 8x8 digits (Assignment 3, Part 6): gradients against torch's autograd through
torch's own layers, evaluation mode, the batch norm's running estimates, initialisation, training on the digits."""
import math

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.images import load_digits
from course_lib.functional import small_convnet as net

pytestmark = [pytest.mark.ch3, pytest.mark.usefixtures("one_torch_thread")]


def perturbed(filters, device, seed=0):
    """Parameters away from their first values (every term of the gradients counts) and a used bn_state."""
    params, state = net.init_small_convnet(filters, seed=seed, dtype=torch.float64, device=device)
    gen = torch.Generator().manual_seed(seed + 1)
    for name in ("gamma", "beta", "W2", "b2"):
        params[name] = (params[name].cpu() + 0.3 * torch.randn(params[name].shape, generator=gen,
                                                                dtype=torch.float64)).to(device)
    state["running_mean"] = (0.5 * torch.randn(filters, generator=gen, dtype=torch.float64)).to(device)
    state["running_var"] = (0.5 + torch.rand(filters, generator=gen, dtype=torch.float64)).to(device)
    return params, state


def torch_loss(params, state, x, y, keep, p_keep):
    """The same network with torch's layers, the dropout mask given; running estimates updated in place."""
    conv = F.conv2d(x, params["W1"], padding=1)
    normed = F.batch_norm(conv, state["running_mean"], state["running_var"], params["gamma"], params["beta"],
                          training=True, momentum=state["momentum"], eps=state["eps"])
    pooled = F.max_pool2d(F.relu(normed), 2, 2)
    scores = (pooled * keep / p_keep).flatten(1) @ params["W2"] + params["b2"]
    return F.cross_entropy(scores, y)


def images(n, device, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 8, 8, generator=gen, dtype=torch.float64).to(device),
            torch.randint(0, 10, (n,), generator=gen).to(device))


@pytest.mark.parametrize("filters,n", [(8, 12), (3, 5)])
def test_loss_gradients_and_running_estimates_match_torch(device, filters, n):
    params, state = perturbed(filters, device)
    x, y = images(n, device)
    p_keep = 0.6
    torch_state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in state.items()}
    loss, grads = net.small_convnet_loss(params, state, x, y, training=True, p_keep=p_keep,
                                         generator=torch.Generator(device=device).manual_seed(5))
    # the mask the reference's dropout draws: the same generator, the same call
    keep = torch.rand((n, filters, 4, 4), generator=torch.Generator(device=device).manual_seed(5), device=device,
                      dtype=torch.float64) < p_keep
    leaves = {name: p.clone().requires_grad_(True) for name, p in params.items()}
    want = torch_loss(leaves, torch_state, x, y, keep, p_keep)
    want.backward()
    torch.testing.assert_close(loss, want.detach())
    assert set(grads) == set(net.SMALL_CONVNET_PARAMS)
    for name, leaf in leaves.items():
        torch.testing.assert_close(grads[name], leaf.grad, msg=lambda m, name=name: f"grads[{name!r}]: {m}")
    for key in ("running_mean", "running_var"):
        torch.testing.assert_close(state[key], torch_state[key])


def test_evaluation_uses_the_running_estimates_and_changes_nothing(device):
    params, state = perturbed(4, device, seed=3)
    before = {k: v.clone() for k, v in state.items() if torch.is_tensor(v)}
    x, _ = images(6, device, seed=3)
    scores = net.small_convnet_loss(params, state, x, training=False)
    normed = F.batch_norm(F.conv2d(x, params["W1"], padding=1), state["running_mean"], state["running_var"],
                          params["gamma"], params["beta"], training=False, eps=state["eps"])
    want = F.max_pool2d(F.relu(normed), 2, 2).flatten(1) @ params["W2"] + params["b2"]
    torch.testing.assert_close(scores, want)
    assert scores.shape == (6, 10) and scores.device.type == torch.device(device).type
    for key, value in before.items():
        assert torch.equal(state[key], value)


def test_initialisation_is_seeded_and_gives_a_first_loss_near_log_10():
    a, state = net.init_small_convnet(seed=4)
    b, _ = net.init_small_convnet(seed=4)
    assert all(torch.equal(a[name], b[name]) for name in net.SMALL_CONVNET_PARAMS)
    assert {name: tuple(p.shape) for name, p in a.items()} == {
        "W1": (8, 1, 3, 3), "gamma": (8,), "beta": (8,), "W2": (128, 10), "b2": (10,)}
    assert a["W1"].dtype == torch.float32 and state["running_var"].shape == (8,)
    x, y = load_digits(size=8, seed=0).train.tensors
    loss, _ = net.small_convnet_loss(a, state, x[:300], y[:300], training=True,
                                     generator=torch.Generator().manual_seed(0))
    assert abs(float(loss) - math.log(10)) < 0.1


def test_the_layers_by_name_are_those_of_the_network():
    layers = net.small_convnet_layers()
    assert list(layers) == ["pool_forward", "pool_backward", "bn_forward", "bn_backward", "drop_forward",
                            "drop_backward"]
    x = torch.randn(2, 3, 6, 4, dtype=torch.float64)
    out, cache = layers["pool_forward"](x)
    torch.testing.assert_close(out, F.max_pool2d(x, 2, 2))
    assert layers["pool_backward"](torch.ones_like(out), cache).sum() == out.numel()


def test_training_on_the_digits_is_reproducible_and_generalises():
    splits = load_digits(size=8, seed=0)
    (x, y), (x_test, y_test) = splits.train.tensors, splits.test.tensors
    runs = []
    for _ in range(2):
        params, state = net.init_small_convnet(seed=0, dtype=torch.float64)
        losses = net.train_small_convnet(params, state, x.double(), y, epochs=10, seed=0)
        runs.append((losses, net.small_convnet_accuracy(params, state, x_test.double(), y_test)))
    assert runs[0] == runs[1]
    losses, accuracy = runs[0]
    assert len(losses) == 10 * math.ceil(x.shape[0] / 50)
    assert abs(losses[0] - math.log(10)) < 0.1 and sum(losses[-26:]) / 26 < 0.4
    assert accuracy >= 0.9, f"held-out accuracy {accuracy:.3f}"


def test_bad_inputs_say_what_is_wrong():
    params, state = net.init_small_convnet(seed=0)
    x = torch.zeros(2, 1, 8, 8)
    with pytest.raises(KeyError, match="W2"):
        net.small_convnet_loss({k: v for k, v in params.items() if k != "W2"}, state, x, training=False)
    with pytest.raises(KeyError, match="running_var"):
        net.small_convnet_loss(params, {"running_mean": state["running_mean"], "momentum": 0.1, "eps": 1e-5}, x,
                               training=False)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        net.small_convnet_loss(params, state, torch.zeros(2, 3, 8, 8), training=False)
    with pytest.raises(ValueError, match="image_size must be even"):
        net.init_small_convnet(image_size=7)
    with pytest.raises(ValueError, match="filters"):
        net.init_small_convnet(0)
    with pytest.raises(ValueError, match="epochs"):
        net.train_small_convnet(params, state, x, torch.zeros(2, dtype=torch.long), epochs=0)
    with pytest.raises(ValueError, match="2 images"):
        net.train_small_convnet(params, state, x, torch.zeros(3, dtype=torch.long), epochs=1)
