"""course_lib.nn, driven by its table of pairs: every row is compared with torch and gradchecked.

A row of :data:`course_lib.nn.pairs.PAIRS` adds its cases here without a change to this file:
the functional form against the row's ``reference`` (torch's own ops) in float32 and float64,
``torch.autograd.gradcheck`` in float64, and the generated Module against the functional form.
"""
import inspect

import pytest
import torch

from course_lib import nn as cnn
from course_lib.nn import PAIRS

from conftest import tolerances

pytestmark = pytest.mark.ch3

SPECS = [pytest.param(spec, id=spec.name) for spec in PAIRS]


def example(spec, *, dtype, device, seed=0):
    """The row's example: (tensors, options) with fixed random values; a fresh seeded generator for dropout."""
    gen = torch.Generator().manual_seed(seed)
    tensors = []
    for name in spec.tensors:
        t = torch.randn(spec.example[name], generator=gen, dtype=torch.float64)
        if spec.positive:
            t = t.abs() + 0.5  # away from 0, where Lp norms are not differentiable
        tensors.append(t.to(dtype=dtype, device=device))
    options = {name: spec.example[name] for name in spec.options if name in spec.example}
    if "generator" in spec.options:
        options["generator"] = torch.Generator(device=device).manual_seed(seed)
    return tensors, options


def call(fn, spec, tensors, options, seed=0):
    """``fn(*tensors, **options)``, with a generator reseeded on every call (one mask for every call)."""
    if "generator" in options:
        options = {**options, "generator": torch.Generator(device=tensors[0].device).manual_seed(seed)}
    return fn(*tensors, **options)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("spec", SPECS)
def test_functional_form_matches_torch(spec, dtype, device):
    tensors, options = example(spec, dtype=dtype, device=device)
    ours = call(getattr(cnn, spec.name), spec, tensors, options)
    theirs = call(spec.reference, spec, tensors, options)
    assert ours.shape == theirs.shape and ours.dtype == dtype and ours.device.type == device.type
    torch.testing.assert_close(ours, theirs, **tolerances(dtype))


@pytest.mark.parametrize("spec", SPECS)
def test_functional_form_passes_gradcheck(spec, device):
    tensors, options = example(spec, dtype=torch.float64, device=device)
    leaves = [t.requires_grad_(True) for t in tensors]
    fn = getattr(cnn, spec.name)
    assert torch.autograd.gradcheck(lambda *ts: call(fn, spec, ts, options), leaves, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("spec", SPECS)
def test_gradients_match_torch_autograd(spec, device):
    tensors, options = example(spec, dtype=torch.float64, device=device, seed=3)
    ours_leaves = [t.clone().requires_grad_(True) for t in tensors]
    ref_leaves = [t.clone().requires_grad_(True) for t in tensors]
    out = call(getattr(cnn, spec.name), spec, ours_leaves, options, seed=3)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64).to(device)
    grads = torch.autograd.grad(out, ours_leaves, dout)
    ref_grads = torch.autograd.grad(call(spec.reference, spec, ref_leaves, options, seed=3), ref_leaves, dout)
    for name, g, r in zip(spec.tensors, grads, ref_grads):
        torch.testing.assert_close(g, r, **tolerances(torch.float64), msg=lambda m, n=name: f"{spec.name} d{n}: {m}")


@pytest.mark.parametrize("spec", [s for s in SPECS if s.values[0].module])
def test_generated_module_calls_the_functional_form(spec, device):
    tensors, options = example(spec, dtype=torch.float64, device=device)
    module = getattr(cnn, spec.title)(**{k: v for k, v in options.items() if k != "generator"})
    if "generator" in options:
        module.generator = torch.Generator(device=device).manual_seed(0)
    torch.testing.assert_close(module(tensors[0]), call(getattr(cnn, spec.name), spec, tensors, options))
    for name in spec.options:
        if name != "training" and name in options:
            assert f"{name}=" in repr(module)


@pytest.mark.parametrize("spec", SPECS)
def test_every_row_names_the_forwards_arguments(spec):
    forward_args = list(inspect.signature(spec.forward).parameters)
    assert forward_args == [*spec.tensors, *spec.options]
    assert list(inspect.signature(getattr(cnn, spec.name)).parameters) == forward_args
    assert getattr(cnn, f"{spec.title}Function").__name__ == f"{spec.title}Function"
    assert set(spec.example) <= set(forward_args)


def test_every_name_of_the_bridge_is_in_nn():
    from course_lib import nn as autograd

    for name in ("function_from_pair", "affine", "relu", "Linear", "ReLU", "Conv2dFunction", "ConvTranspose2dFunction",
                 "conv2d", "conv_transpose2d", "Conv2d", "ConvTranspose2d", "LeakyReLUFunction", "SigmoidFunction",
                 "TanhFunction", "MaxPool2dFunction", "AvgPool2dFunction", "LpPool2dFunction", "MaxoutFunction",
                 "L2PoolChannelsFunction", "BatchNormFunction", "LayerNormFunction", "LocalResponseNormFunction",
                 "DropoutFunction", "UpsampleFunction", "leaky_relu", "sigmoid", "tanh", "max_pool2d", "avg_pool2d",
                 "lp_pool2d", "maxout", "l2_pool_channels", "batch_norm", "layer_norm", "local_response_norm",
                 "dropout", "upsample", "MaxPool2d", "AvgPool2d", "Maxout", "BatchNorm", "LocalResponseNorm",
                 "Dropout", "Upsample"):
        assert getattr(autograd, name) is getattr(cnn, name), name
        assert name in autograd.__all__


def _small_net(nn_module):
    return nn_module.Sequential(nn_module.Conv2d(3, 4, 3, padding=1), nn_module.BatchNorm2d(4), nn_module.ReLU(),
                                nn_module.MaxPool2d(2), nn_module.Flatten(), nn_module.Linear(4 * 3 * 3, 5))


def test_modules_load_a_torch_state_dict():
    torch.manual_seed(0)
    theirs = _small_net(torch.nn).double()
    ours = torch.nn.Sequential(cnn.Conv2d(3, 4, 3, padding=1), cnn.BatchNorm2d(4), cnn.ReLU(), cnn.MaxPool2d(2),
                               torch.nn.Flatten(), cnn.Linear(4 * 3 * 3, 5)).double()
    ours.load_state_dict(theirs.state_dict())          # strict: same names and shapes
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))


def test_batchnorm_variants_check_the_rank():
    with pytest.raises(ValueError, match="BatchNorm2d expects a 4-d input"):
        cnn.BatchNorm2d(3)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="BatchNorm1d expects a 2 or 3-d input"):
        cnn.BatchNorm1d(3)(torch.zeros(2, 3, 4, 4))


def test_layer_norm_module_matches_torch():
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    ours, theirs = cnn.LayerNorm((4, 5), dtype=torch.float64), torch.nn.LayerNorm((4, 5), dtype=torch.float64)
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(ours(x), theirs(x))


def test_a_bad_row_is_refused():
    from course_lib.nn.functional import _functional_form, function_from_pair
    from course_lib.nn.pairs import pair_spec

    spec = pair_spec("conv2d")._replace(options=("padding", "stride", "dilation", "groups"))
    with pytest.raises(TypeError, match="must list the arguments of conv2d_forward in order"):
        _functional_form(spec, function_from_pair(spec.forward, spec.backward, "Bad"))
    with pytest.raises(KeyError, match="no pair 'conv3d'"):
        pair_spec("conv3d")
