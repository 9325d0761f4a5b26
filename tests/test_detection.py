"""course_lib.detection against torchvision.ops: IoU, NMS and batched NMS on random boxes with ties,
identical boxes, zero-area boxes and empty inputs; anchors; the random-weight detectors' outputs."""
import math

import pytest
import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import detection as det
from course_lib.device import available_devices

pytestmark = pytest.mark.ch6

DEVICES = [pytest.param(d, id=str(d)) for d in available_devices()]
DTYPES = [torch.float32, torch.float64]


@st.composite
def box_sets(draw, max_boxes=12):
    """Boxes on a 1/4-pixel grid (exact in float32, so shifted copies keep their IoU), with duplicates,
    zero-area boxes and tied scores drawn often; scores from a few levels."""
    n = draw(st.integers(0, max_boxes))
    coord = st.integers(0, 80).map(lambda v: v / 4)
    boxes = []
    for _ in range(n):
        if boxes and draw(st.integers(0, 4)) == 0:
            boxes.append(list(boxes[draw(st.integers(0, len(boxes) - 1))]))  # an identical box
            continue
        x1, y1 = draw(coord), draw(coord)
        w = 0.0 if draw(st.integers(0, 6)) == 0 else draw(st.integers(1, 40)) / 4  # some zero-area boxes
        h = draw(st.integers(0, 40)) / 4
        boxes.append([x1, y1, x1 + w, y1 + h])
    scores = [draw(st.integers(0, 3)) / 4 for _ in range(n)]                   # ties are common
    classes = [draw(st.integers(0, 2)) for _ in range(n)]
    threshold = draw(st.sampled_from([0.0, 0.2, 0.5, 0.7, 1.0]))
    return boxes, scores, classes, threshold


def _tensors(case, dtype, device):
    boxes, scores, classes, threshold = case
    return (torch.tensor(boxes, dtype=dtype).reshape(-1, 4).to(device), torch.tensor(scores, dtype=dtype).to(device),
            torch.tensor(classes, dtype=torch.int64).to(device), threshold)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(case=box_sets(), other=box_sets())
def test_box_iou_matches_torchvision(device, dtype, case, other):
    a, _, _, _ = _tensors(case, dtype, device)
    b, _, _, _ = _tensors(other, dtype, device)
    got = det.box_iou(a, b)
    assert got.shape == (len(a), len(b)) and got.dtype == dtype and got.device.type == device.type
    torch.testing.assert_close(got, torchvision.ops.box_iou(a, b), equal_nan=True)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=80, deadline=None)
@given(case=box_sets())
def test_nms_matches_torchvision(device, dtype, case):
    boxes, scores, classes, threshold = _tensors(case, dtype, device)
    got = det.nms(boxes, scores, threshold)
    assert got.dtype == torch.int64 and got.device.type == device.type
    assert got.tolist() == torchvision.ops.nms(boxes, scores, threshold).tolist()
    got = det.batched_nms(boxes, scores, classes, threshold)
    assert got.tolist() == torchvision.ops.batched_nms(boxes, scores, classes, threshold).tolist()


def test_nms_ties_keep_the_lower_index():
    boxes = torch.tensor([[0.0, 0, 10, 10]] * 3 + [[20.0, 20, 30, 30], [0.0, 0, 10, 10]])
    scores = torch.tensor([0.5, 0.9, 0.9, 0.9, 0.1])
    assert det.nms(boxes, scores, 0.5).tolist() == [1, 3]
    assert det.nms(boxes, scores, 0.5).tolist() == torchvision.ops.nms(boxes, scores, 0.5).tolist()


def test_nms_large_random_case_matches_torchvision():
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=gen) * 100
    boxes = torch.cat([xy, xy + torch.rand(300, 2, generator=gen) * 30], dim=1)
    scores = torch.rand(300, generator=gen)
    for t in (0.3, 0.5, 0.7):
        assert det.nms(boxes, scores, t).tolist() == torchvision.ops.nms(boxes, scores, t).tolist()


def test_iou_hand_values_and_errors():
    a = torch.tensor([[0.0, 0, 2, 2]])
    b = torch.tensor([[1.0, 1, 3, 3], [2.0, 0, 4, 2], [0.0, 0, 2, 2]])
    torch.testing.assert_close(det.box_iou(a, b), torch.tensor([[1 / 7, 0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        det.box_iou(torch.zeros(3), b)
    with pytest.raises(ValueError, match="x2 < x1"):
        det.box_iou(torch.tensor([[2.0, 0, 1, 1]]), b)
    with pytest.raises(ValueError, match="scores must have shape"):
        det.nms(b, torch.zeros(2), 0.5)
    with pytest.raises(TypeError, match="floating"):
        det.box_iou(torch.zeros(1, 4, dtype=torch.int64), b)


@pytest.mark.parametrize("device", DEVICES)
def test_anchor_boxes(device):
    sizes, ratios = (32, 64), (0.5, 1.0, 2.0)
    anchors = det.anchor_boxes((3, 4), 16, sizes, ratios, dtype=torch.float64, device=device)
    assert anchors.shape == (3 * 4 * 6, 4) and anchors.device.type == device.type
    w = anchors[:, 2] - anchors[:, 0]
    h = anchors[:, 3] - anchors[:, 1]
    expected_area = torch.tensor([s * s for _ in ratios for s in sizes] * 12, dtype=torch.float64)
    torch.testing.assert_close((w * h).cpu(), expected_area)
    torch.testing.assert_close((h / w).cpu(), torch.tensor([r for r in ratios for _ in sizes] * 12, dtype=torch.float64))
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    torch.testing.assert_close(centres[6 * 5].cpu(), torch.tensor([1.5 * 16, 1.5 * 16], dtype=torch.float64))  # cell (1, 1)
    with pytest.raises(ValueError, match="feature_size"):
        det.anchor_boxes((0, 4), 16, sizes, ratios)


def test_anchor_boxes_match_torchvision_when_no_rounding():
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.image_list import ImageList

    sizes, ratios = (16, 32), (0.25, 1.0, 4.0)   # square roots 0.5, 1, 2: whole-pixel boxes, no rounding
    generator = AnchorGenerator(sizes=(sizes,), aspect_ratios=(ratios,))
    images = ImageList(torch.zeros(1, 3, 64, 96), [(64, 96)])
    expected = generator(images, [torch.zeros(1, 8, 4, 6)])[0]
    got = det.anchor_boxes((4, 6), 16, sizes, ratios, offset=0.0)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("kind", ["faster", "mask"])
def test_random_detector_output_format(kind):
    torch.manual_seed(0)
    model = det.random_detector(kind, num_classes=5, image_size=64).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 64, 80)])
    assert isinstance(out, list) and len(out) == 1
    keys = {"boxes", "labels", "scores"} | ({"masks"} if kind == "mask" else set())
    assert set(out[0]) == keys
    k = out[0]["boxes"].shape[0]
    assert out[0]["boxes"].shape == (k, 4) and out[0]["scores"].shape == (k,)
    assert all(0 < label < 5 for label in out[0]["labels"].tolist())
    assert not math.isnan(float(out[0]["scores"].sum()))
    if kind == "mask":
        assert out[0]["masks"].shape == (k, 1, 64, 80)
    with pytest.raises(ValueError, match="kind"):
        det.random_detector("yolo")
