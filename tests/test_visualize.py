"""course_lib.visualize: occlusion maps on a model whose answer is known, saliency against the
analytic gradient of a linear model and against autograd, feature-map shapes, receptive windows."""
import pytest
import torch
from torch import nn

from course_lib import visualize as vis
from course_lib.device import available_devices

pytestmark = pytest.mark.ch6

DEVICES = [pytest.param(d, id=str(d)) for d in available_devices()]


class ReadsOneRegion(nn.Module):
    """Class 0's score is the mean of rows 4:8, columns 10:14 of channel 0; class 1 scores 0."""

    def forward(self, x):
        region = x[:, 0, 4:8, 10:14].mean(dim=(1, 2))
        return torch.stack([region, torch.zeros_like(region)], dim=1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("patch,stride", [(2, 2), (4, 1), ((3, 2), (1, 3))])
def test_occlusion_map_finds_the_region(device, patch, stride):
    image = torch.ones(2, 16, 20, dtype=torch.float64, device=device)
    ph, pw = (patch, patch) if isinstance(patch, int) else patch
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    heat = vis.occlusion_map(ReadsOneRegion(), image, 0, patch_size=patch, stride=stride, fill=0.0,
                             softmax=False, batch_size=7)
    assert heat.shape == ((16 - ph) // sh + 1, (20 - pw) // sw + 1) and heat.device.type == device.type
    for i in range(heat.shape[0]):
        for j in range(heat.shape[1]):
            rows = set(range(i * sh, i * sh + ph)) & set(range(4, 8))
            cols = set(range(j * sw, j * sw + pw)) & set(range(10, 14))
            assert heat[i, j].item() == pytest.approx(1 - len(rows) * len(cols) / 16)


def test_occlusion_fill_per_channel_and_softmax():
    image = torch.zeros(2, 8, 8)
    heat = vis.occlusion_map(ReadsOneRegion(), torch.zeros(2, 16, 20), 0, patch_size=4, stride=4,
                             fill=torch.tensor([3.0, -1.0]), softmax=True)
    # the patch at (1, 3) covers rows 4:8, columns 12:16: half the region at 3 -> score 1.5
    assert heat[1, 3].item() == pytest.approx(torch.softmax(torch.tensor([1.5, 0.0]), 0)[0].item(), rel=1e-6)
    assert heat[0, 0].item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        vis.occlusion_map(ReadsOneRegion(), image[None], 0, patch_size=2, stride=1)
    with pytest.raises(ValueError, match="fit"):
        vis.occlusion_map(ReadsOneRegion(), image, 0, patch_size=9, stride=1)


@pytest.mark.parametrize("device", DEVICES)
def test_saliency_of_a_linear_model_is_its_weights(device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 5 * 6, 4)).double().to(device)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64, device=device)
    grad = vis.input_gradient(model, x, [1, 3])
    torch.testing.assert_close(grad[0], model[1].weight[1].reshape(3, 5, 6).detach())
    torch.testing.assert_close(grad[1], model[1].weight[3].reshape(3, 5, 6).detach())
    sal = vis.saliency_map(model, x, 2)
    torch.testing.assert_close(sal[0], model[1].weight[2].reshape(3, 5, 6).abs().amax(0).detach())
    assert not x.requires_grad


def test_saliency_matches_autograd_and_finite_differences():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64)
    grad = vis.input_gradient(model, x, 4)
    xr = x.clone().requires_grad_(True)
    model(xr)[0, 4].backward()
    torch.testing.assert_close(grad, xr.grad)
    eps = 1e-6
    bumped = x.clone()
    bumped[0, 1, 2, 3] += eps
    numeric = (model(bumped)[0, 4] - model(x)[0, 4]).item() / eps
    assert grad[0, 1, 2, 3].item() == pytest.approx(numeric, rel=1e-4, abs=1e-8)
    with pytest.raises(ValueError, match="one per image"):
        vis.input_gradient(model, torch.randn(3, 2, 6, 6, dtype=torch.float64), [0, 1])


def _small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(6 * 4 * 4, 10))


def test_feature_map_shapes_and_hooks_removed():
    model = _small_cnn()
    x = torch.randn(3, 1, 16, 16)
    maps = vis.feature_maps(model, x, ["0", "2", model[3], "7"])
    assert maps["0"].shape == (3, 4, 16, 16) and maps["2"].shape == (3, 4, 8, 8)
    assert maps["3"].shape == (3, 6, 8, 8) and maps["7"].shape == (3, 10)
    torch.testing.assert_close(maps["0"], model[0](x).detach())
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(ValueError, match="no layer named"):
        vis.feature_maps(model, x, ["nine"])


def test_unit_window_against_brute_force():
    """Perturb one input pixel at a time: the pixels that change unit (r, c) lie inside its window."""
    model = _small_cnn().double()
    chain = vis.conv_chain(model, "3")
    assert len(chain) == 3
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64, requires_grad=True)
    for r, c in [(0, 0), (3, 5), (7, 7)]:
        out = model[:4](x)[0, 2, r, c]
        (grad,) = torch.autograd.grad(out, x)
        rows, cols = torch.nonzero(grad[0, 0], as_tuple=True)
        top, left, bottom, right = vis.unit_window(chain, r, c)
        assert bottom - top == 10 and right - left == 10   # 5x5, pool 2, 3x3: 5 + 1 + 2*2 = 10
        assert rows.min() >= top and rows.max() < bottom and cols.min() >= left and cols.max() < right


def test_top_activating_patches():
    model = _small_cnn()
    images = torch.randn(6, 1, 16, 16)
    patches = vis.top_activating_patches(model, images, "3", channel=1, k=4)
    acts = model[:4](images).detach()[:, 1]
    best = acts.reshape(6, -1).max(1).values
    assert [p.value for p in patches] == pytest.approx(sorted(best.tolist(), reverse=True)[:4])
    for p in patches:
        assert acts[p.image, p.row, p.col].item() == pytest.approx(p.value)
        top, left, bottom, right = p.window
        assert 0 <= top < bottom <= 16 and 0 <= left < right <= 16
    many = vis.top_activating_patches(model, images, "3", channel=1, k=5, one_per_image=False)
    assert [p.value for p in many] == pytest.approx(torch.topk(acts.reshape(-1), 5).values.tolist())
    with pytest.raises(ValueError, match="channel"):
        vis.top_activating_patches(model, images, "3", channel=6)


def test_filter_images_and_hinton_data():
    w = torch.randn(4, 3, 5, 5)
    w[2] = 0.7
    img = vis.filter_images(w)
    assert img.shape == w.shape and img.min() >= 0 and img.max() <= 1
    assert torch.all(img[2] == 0.5)
    for f in (0, 1, 3):
        assert img[f].min() == 0 and img[f].max() == 1
    torch.testing.assert_close(img[0], (w[0] - w[0].min()) / (w[0].max() - w[0].min()))
    h = vis.hinton_data(torch.tensor([[1.0, -4.0], [0.0, 0.25]]))
    torch.testing.assert_close(h.side, torch.tensor([[0.5, 1.0], [0.0, 0.25]]))
    assert h.positive.tolist() == [[True, False], [False, True]]
    with pytest.raises(ValueError, match="matrix"):
        vis.hinton_data(torch.zeros(2, 2, 2))
