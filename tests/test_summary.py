"""course_lib.summary: per-layer shapes, parameters, multiply-adds and receptive fields, against
torch.utils.flop_counter.FlopCounterMode (FLOPs = 2 x multiply-adds) on every registered model."""
import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.models import get_model, list_models
from course_lib.shapes import receptive_field
from course_lib.summary import LayerRow, Summary, summarize

pytestmark = pytest.mark.ch4

META = torch.device("meta")


def counted_macs(model: nn.Module, input_size, dtype=None) -> int:
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros((1,) + tuple(input_size), device=META, dtype=dtype))
    return counter.get_total_flops() // 2


#: models whose input is not an image tensor of a fixed size: the sentence models (their
#: vocabulary is an argument) and the policy network (its legal-move mask reads values, so it
#: cannot run on meta: it is counted on the CPU below).
NOT_ON_META = ("alphago_policy", "kim_cnn", "dcnn")


@pytest.mark.parametrize("name", [n for n in list_models() if n not in NOT_ON_META])
def test_macs_and_params_agree_with_flop_counter(name):
    """Built on meta (shapes only), at the model's nominal input size (and dtype: a model that reads
    token indices says so with an ``input_dtype`` attribute)."""
    with META:
        model = get_model(name).eval()
        dtype = getattr(model, "input_dtype", None)
        s = summarize(model, model.input_size, dtype=dtype)
        assert s.total_params == sum(p.numel() for p in model.parameters())
        assert s.total_macs == counted_macs(model, model.input_size, dtype), name
        assert s.total_macs == sum(r.macs for r in s.rows)


def test_alexnet_table():
    with META:
        s = summarize(get_model("alexnet"), (3, 227, 227))
    conv = s.select("Conv2d")
    assert conv[0] == LayerRow("features.0", "Conv2d", (96, 55, 55), 34_944, 105_415_200, 11, 4)
    assert conv[0].macs == 55 * 55 * 96 * 363
    assert [r.output_shape for r in conv] == [(96, 55, 55), (256, 27, 27), (384, 13, 13), (384, 13, 13), (256, 13, 13)]
    assert [r.output_shape for r in s.select("MaxPool2d")] == [(96, 27, 27), (256, 13, 13), (256, 6, 6)]
    assert [r.output_shape for r in s.select("Linear")] == [(4096,), (4096,), (1000,)]
    assert s.total_params == 60_965_224
    assert s.select("MaxPool2d")[-1].rf == 195 and s.select("MaxPool2d")[-1].jump == 32
    text, md = str(s), s.to_markdown()
    assert "55x55x96" in text and "34,944" in text and "105,415,200" in text and "60,965,224" in text
    assert md.splitlines()[0].startswith("| layer |") and "**60,965,224**" in md
    assert len(md.splitlines()) == len(s.rows) + 3


def test_receptive_fields_of_a_stack_and_of_branches():
    stack = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1))
    s = summarize(stack, (1, 16, 16))
    assert [r.rf for r in s.rows] == [3, 5, 7]
    assert s.rows[-1].rf == receptive_field([(3, 1)] * 3).size

    class TwoBranches(nn.Module):
        def __init__(self):
            super().__init__()
            self.small = nn.Conv2d(1, 2, 1)
            self.big = nn.Sequential(nn.Conv2d(1, 2, 5, padding=2), nn.MaxPool2d(2, 2))
            self.after = nn.Conv2d(4, 1, 3, padding=1)

        def forward(self, x):
            a = self.small(x)[:, :, ::2, ::2]
            return self.after(torch.cat([a, self.big(x)], 1))

    s = summarize(TwoBranches(), (1, 8, 8))
    # the concatenation takes the larger field (5x5 conv then 2x2 pool: 6, jump 2), then a 3x3: 6 + 2 * 2
    assert s.rows[-1].rf == 10 and s.rows[-1].jump == 2


def test_dilation_groups_and_linear_counts():
    model = nn.Sequential(nn.Conv2d(4, 8, 3, dilation=2, groups=2, padding=2), nn.Flatten(), nn.Linear(8 * 10 * 10, 5))
    s = summarize(model, (4, 10, 10))
    assert s.rows[0].macs == 8 * 10 * 10 * (4 // 2) * 9 and s.rows[0].rf == 5
    assert s.rows[2].macs == 800 * 5 and s.rows[2].rf is None
    assert s.total_macs == counted_macs(model.to(META), (4, 10, 10))


def test_training_mode_is_restored_and_input_checked():
    model = get_model("lenet5_modern").train()
    s = summarize(model, (1, 32, 32))
    assert model.training and isinstance(s, Summary)
    with pytest.raises(ValueError, match="input_size"):
        summarize(model, ())


@pytest.mark.parametrize("ours, theirs", [("alexnet_torchvision", "alexnet"), ("vgg16", "vgg16"), ("vgg19_bn", "vgg19_bn"),
                                          ("googlenet_torchvision", "googlenet"), ("resnet50", "resnet50")])
def test_macs_equal_torchvision(ours, theirs):
    with META:
        mine = get_model(ours).eval()
        kwargs = {"aux_logits": False, "init_weights": False} if theirs == "googlenet" else {}
        reference = getattr(torchvision.models, theirs)(weights=None, **kwargs).eval()
        assert summarize(mine, mine.input_size).total_macs == counted_macs(reference, mine.input_size)


def test_policy_network_counts_agree_with_flop_counter():
    model = get_model("alphago_policy", k=16).eval()
    s = summarize(model, model.input_size)
    assert s.total_params == sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros((1,) + tuple(model.input_size)))
    assert s.total_macs == counter.get_total_flops() // 2
    # 5x5 layer, eleven 3x3 layers and the 1x1 layer, each over 19 x 19 points
    assert s.total_macs == 361 * (48 * 16 * 25 + 11 * 16 * 16 * 9 + 16)
