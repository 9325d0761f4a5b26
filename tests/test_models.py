"""course_lib.models: every registered network against its documented parameter count, torchvision's
builders (random weights, built on the meta device: no memory, no download), shapes, gradients and
determinism; one small network from the course's own layers against the same from torch.nn."""
import re
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from course_lib.models import get_model, list_models
from course_lib.models.inception import GOOGLENET_TABLE, InceptionFactorized5x5, InceptionFactorizedNxN
from course_lib.models.lenet import C3_TABLE
from course_lib.models.resnet import BasicBlock, Bottleneck
from course_lib.shapes import conv_layer_params

pytestmark = pytest.mark.ch4

META = torch.device("meta")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _projections(widths=(64, 128, 256, 512), expansion=1) -> int:
    """Parameters of the projection shortcuts of ResNet-18/34 (1x1 conv + batch norm) where a stage doubles."""
    return sum(conv_layer_params(c * expansion, 2 * c * expansion, 1, bias=False) + 2 * 2 * c * expansion
               for c in widths[:-1])


def _googlenet_paper() -> int:
    """GoogLeNet with biases and 5x5 branches, from the paper's Table 1 and the layer formula."""
    conv = conv_layer_params
    total = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3) + conv(1024, 1000, 1)  # stem and the FC layer
    c = 192
    for c1, c3r, c3, c5r, c5, pp in GOOGLENET_TABLE.values():
        total += conv(c, c1, 1) + conv(c, c3r, 1) + conv(c3r, c3, 3) + conv(c, c5r, 1) + conv(c5r, c5, 5) + conv(c, pp, 1)
        c = c1 + c3 + c5 + pp
    return total


#: Documented parameter counts: exact ("60,965,224") or as rounded in the paper ("133M", "0.27M"),
#: with the source.  Every registered model must have one.
DOCUMENTED = {
    "lenet5": "60,850",  # LeCun et al. 1998: C1-F6 60,000 (156 + 12 + 1,516 + 32 + 48,120 + 10,164) + linear output 850
    "lenet5_modern": "61,706",  # same sizes, full C3: 156 + 2,416 + 48,120 + 10,164 + 850
    "alexnet": "60,965,224",  # Krizhevsky et al. 2012 with the two-GPU split
    "alexnet_torchvision": "61,100,840",  # torchvision.models.alexnet
    "vgg11": "133M", "vgg11_lrn": "133M", "vgg13": "133M", "vgg16_1x1": "134M", "vgg16": "138M", "vgg19": "144M",
    "vgg11_bn": "132,868,840", "vgg13_bn": "133,053,736", "vgg16_bn": "138,365,992", "vgg19_bn": "143,678,248",
    "vgg16_1x1_bn": "134M",
    "googlenet": str(_googlenet_paper()),
    "googlenet_torchvision": "6,624,904",  # torchvision.models.googlenet(aux_logits=False)
    "resnet18": "11,689,512", "resnet34": "21,797,672", "resnet50": "25,557,032", "resnet101": "44,549,160",
    "resnet152": "60,192,808",  # torchvision
    "plain18": str(11_689_512 - _projections()), "plain34": str(21_797_672 - _projections()),
    # He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M; option A shortcuts have no parameters
    "resnet20_cifar": "0.27M", "resnet32_cifar": "0.46M", "resnet44_cifar": "0.66M", "resnet56_cifar": "0.85M",
    "resnet110_cifar": "1.7M", "plain20_cifar": "0.27M", "plain32_cifar": "0.46M", "plain44_cifar": "0.66M",
    "plain56_cifar": "0.85M",
    # Chapter 6's probe: conv 1->16 5x5 (416), 16->32 3x3 (4,640), 32->32 3x3 (9,248), linear 32*8*8->10 (20,490)
    "probe_cnn": "34,794",
}

#: Registered models that are not image classifiers (a board or a sentence in, no ``input_size``):
#: each has its own test file, which checks its parameter count and shapes.
OWN_TESTS = {"alphago_policy": "test_alphago.py", "kim_cnn": "test_text_models.py", "dcnn": "test_text_models.py"}
IMAGE_MODELS = [name for name in list_models() if name not in OWN_TESTS]


def test_every_registered_model_is_tested():
    for name in list_models():
        if name in OWN_TESTS:
            path = Path(__file__).parent / OWN_TESTS[name]
            assert path.is_file() and name in path.read_text(), f"{OWN_TESTS[name]} should test {name!r}"
        else:
            assert name in DOCUMENTED, f"add the documented parameter count of {name!r} to DOCUMENTED"

#: Builder keyword arguments for a small but valid CPU forward and backward (the nominal input and the
#: parameter count are checked on meta); the ImageNet ResNets keep their depth with narrow stages.
SMALL = {"alexnet": {"input_size": 67}, "alexnet_torchvision": {"input_size": 63},
         **{f"{kind}{d}": {"widths": (4, 8, 8, 8)} for kind in ("resnet", "plain") for d in (18, 34, 50, 101, 152)}}


def matches_documented(count: int, documented: str) -> bool:
    m = re.fullmatch(r"(\d+(?:\.(\d+))?)M", documented)
    if m is None:
        return count == int(documented.replace(",", ""))
    decimals = len(m.group(2) or "")
    return round(count / 1e6, decimals) == float(m.group(1))


def small_model_and_input(name: str, seed: int):
    """The model (built after ``torch.manual_seed(seed)``, 7 classes) for a small input where its builder
    sizes the classifier from the input size, and that input size."""
    with META:
        nominal = tuple(get_model(name).input_size)
    if name in SMALL:
        kwargs = SMALL[name]
    else:
        kwargs = {"input_size": 32} if name.startswith(("vgg", "lenet")) else {}
    torch.manual_seed(seed)
    model = get_model(name, num_classes=7, **kwargs)
    size = tuple(model.input_size) if "input_size" in kwargs else (
        (nominal[0], 32, 32) if len(nominal) == 3 and nominal[-1] > 32 else nominal)
    return model, size


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_registered_model(name):
    """Documented parameter count and output shape at the nominal input (on meta: free), then on the CPU at a
    small input: the gradient reaches the input, and building and running with the same seeds repeats exactly."""
    assert name in DOCUMENTED, f"add the documented parameter count of {name!r} to DOCUMENTED"
    with META:
        model = get_model(name)
        count = n_params(model)
        assert matches_documented(count, DOCUMENTED[name]), f"{name}: {count:,} parameters, documented {DOCUMENTED[name]}"
        assert not any(isinstance(m, nn.modules.lazy.LazyModuleMixin) for m in model.modules())
        seven = get_model(name, num_classes=7).eval()
        assert seven(torch.zeros((2,) + tuple(seven.input_size))).shape == (2, 7)

    model, size = small_model_and_input(name, seed=1)
    dtype = getattr(model, "input_dtype", torch.float32)  # token-index models declare an integer input
    gen = torch.Generator().manual_seed(3)
    if dtype.is_floating_point:
        x = torch.rand((2,) + size, generator=gen, dtype=dtype, requires_grad=True)
    else:
        x = torch.randint(0, 10, (2,) + size, generator=gen, dtype=dtype)
    outs = []
    for _ in range(2):
        torch.manual_seed(2)
        outs.append(_logits(model(x)))
    assert outs[0].shape == (2, 7) and torch.isfinite(outs[0]).all()
    assert torch.equal(outs[0], outs[1]), f"{name}: the seeded forward is not repeatable"
    outs[1].square().sum().backward()
    if dtype.is_floating_point:
        assert x.grad is not None and x.grad.abs().sum() > 0, f"{name}: no gradient reaches the input"
    first = next(model.parameters())  # an integer input has no gradient: the first layer's weights must get one
    assert first.grad is not None and first.grad.abs().sum() > 0, f"{name}: no gradient reaches the first layer"
    torch.manual_seed(1)
    again, _ = small_model_and_input(name, seed=1)
    for p, q in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(p, q), f"{name}: the seeded build is not repeatable"


TORCHVISION = [
    ("alexnet_torchvision", {}, "alexnet", {}),
    *[(f"vgg{d}{bn}", {}, f"vgg{d}{bn}", {}) for d in (11, 13, 16, 19) for bn in ("", "_bn")],
    ("googlenet_torchvision", {}, "googlenet", {"aux_logits": False, "init_weights": False}),
    ("googlenet_torchvision", {"aux": True}, "googlenet", {"aux_logits": True, "init_weights": False}),
    *[(f"resnet{d}", {}, f"resnet{d}", {}) for d in (18, 34, 50, 101, 152)],
]


@pytest.mark.parametrize("ours, our_kw, theirs, their_kw", TORCHVISION,
                         ids=[f"{t[0]}{'-aux' if t[1] else ''}" for t in TORCHVISION])
def test_parameter_counts_equal_torchvision(ours, our_kw, theirs, their_kw):
    with META:
        mine = get_model(ours, **our_kw)
        reference = getattr(torchvision.models, theirs)(weights=None, **their_kw)
    assert n_params(mine) == n_params(reference)
    # and layer by layer: the same multiset of parameter shapes
    assert sorted(tuple(p.shape) for p in mine.parameters()) == sorted(tuple(p.shape) for p in reference.parameters())


def test_lenet_layers_have_the_paper_counts():
    net = get_model("lenet5")
    f, c = net.features, net.classifier
    assert [n_params(m) for m in (f[0], f[2], f[4], f[6], c[0], c[2])] == [156, 12, 1516, 32, 48120, 10164]
    assert sum(len(t) for t in C3_TABLE) == 60


def test_partial_connection_follows_the_table():
    """Output map j of C3 changes only when one of its input maps in Table I changes."""
    torch.manual_seed(0)
    c3 = get_model("lenet5").features[4]
    x = torch.randn(1, 6, 14, 14)
    base = c3(x)
    for i in range(6):
        y = x.clone()
        y[:, i] += 1.0
        changed = (c3(y) - base).abs().flatten(2).amax(2)[0] > 0
        assert changed.tolist() == [i in t for t in C3_TABLE]


def test_alexnet_split_and_ablation_switches():
    with META:
        paper = get_model("alexnet")
        assert [m.groups for m in paper.features if isinstance(m, nn.Conv2d)] == [1, 2, 1, 2, 2]
        assert n_params(get_model("alexnet", two_gpu=False)) == 62_378_344
        assert not any(isinstance(m, nn.LocalResponseNorm) for m in get_model("alexnet", lrn=False).modules())
    with pytest.raises(ValueError, match=r"expects input \(N, 3, 67, 67\), got \(1, 3, 64, 64\)"):
        get_model("alexnet", input_size=67)(torch.zeros(1, 3, 64, 64))


def test_paper_lrn_constants():
    """b = a / (k + alpha * sum_{n maps} a^2)^beta with the paper's k=2, n=5, alpha=1e-4, beta=0.75."""
    from course_lib.models.alexnet import paper_lrn

    x = torch.randn(1, 7, 2, 2, dtype=torch.float64) * 30
    out = paper_lrn()(x)
    sq = torch.nn.functional.pad(x.square(), (0, 0, 0, 0, 2, 2))
    window = sum(sq[:, i:i + 7] for i in range(5))
    torch.testing.assert_close(out, x / (2 + 1e-4 * window) ** 0.75)


def test_inception_modules():
    from course_lib.models.inception import Inception

    m = Inception(192, *GOOGLENET_TABLE["3a"])
    assert m(torch.zeros(1, 192, 28, 28)).shape == (1, 256, 28, 28)
    a = InceptionFactorized5x5(192)
    assert a(torch.zeros(1, 192, 35, 35)).shape == (1, 288, 35, 35)
    b = InceptionFactorizedNxN(768, 128, 192, n=7)
    assert b(torch.zeros(1, 768, 17, 17)).shape == (1, 768, 17, 17)
    kernels = {m.kernel_size for m in b.modules() if isinstance(m, nn.Conv2d)}
    assert kernels == {(1, 1), (1, 7), (7, 1)}
    dbl = [m for m in a.branch_double3.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in dbl] == [(1, 1), (3, 3), (3, 3)]


@pytest.mark.parametrize("block, width, out", [(BasicBlock, 64, 64), (Bottleneck, 64, 256)])
def test_residual_blocks(block, width, out):
    torch.manual_seed(0)
    same = block(out, width).eval()
    assert isinstance(same.shortcut, nn.Identity)
    x = torch.randn(2, out, 8, 8)
    # with the body's last batch norm scaled to zero the unit is relu(x): the identity path
    last_bn = [m for m in same.body if isinstance(m, nn.BatchNorm2d)][-1]
    nn.init.zeros_(last_bn.weight)
    nn.init.zeros_(last_bn.bias)
    torch.testing.assert_close(same(x), torch.relu(x))
    down = block(out, 2 * width, stride=2)
    assert down(x).shape == (2, 2 * out, 4, 4)
    assert isinstance(down.shortcut[0], nn.Conv2d) and down.shortcut[0].stride == (2, 2)
    plain = block(out, 2 * width, stride=2, shortcut=None)
    assert plain.shortcut is None and n_params(down) - n_params(plain) == n_params(down.shortcut)


def test_cifar_depths_and_bad_depth():
    from course_lib.models.resnet import resnet_cifar

    net = resnet_cifar(14, in_channels=1, input_size=16)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 14  # 6n + 1 convolutions and the FC layer
    assert net(torch.zeros(2, 1, 16, 16)).shape == (2, 10)
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet_cifar(21)


def test_unknown_model_is_named():
    with pytest.raises(KeyError, match="no model named 'vgg17'"):
        get_model("vgg17")


# --------------------------------------------------------------------------- the course's own layers

def test_course_layers_match_torch_nn():
    import course_lib.nn as cl

    def build(ns):
        return nn.Sequential(ns.Conv2d(1, 4, 3, padding=1), ns.ReLU(), ns.MaxPool2d(2, 2),
                             ns.Conv2d(4, 6, 3), ns.ReLU(), ns.MaxPool2d(2, 2), nn.Flatten(), ns.Linear(6 * 3 * 3, 10))

    torch.manual_seed(0)
    ours, reference = build(cl).double(), build(nn).double()
    assert n_params(ours) == n_params(reference)
    ours.load_state_dict(reference.state_dict())   # course_lib.nn keeps torch.nn's parameter names and shapes
    x = torch.randn(3, 1, 16, 16, dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), reference(xb)
    torch.testing.assert_close(ya, yb)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xa.grad, xb.grad)
    for p, q in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad if p.shape == q.shape else q.grad.t())
