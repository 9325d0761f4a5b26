"""Assignment 6 (applications) as ``tests/test_pipeline.py`` grades it: the cheats it must catch (each replaces
solution cells of the reference and scores 0 in exactly the listed test cells, with feedback naming the call),
and the partial credit of its sub-checks ("partial": those cells score exactly these points)."""

CASES = {
    "nms_calls_torchvision": {
        "replace": {"nms": (
            "def nms(boxes, scores, iou_threshold):\n"
            "    import torchvision\n"
            "    return torchvision.ops.nms(boxes, scores, iou_threshold)\n"
        )},
        "zero": ["test_nms_visible", "test_nms_hidden"],
        "message": "nms",
    },
    "nms_calls_the_operator": {
        "replace": {"nms": (
            "def nms(boxes, scores, iou_threshold):\n"
            "    import torchvision  # registers the operator\n"
            "    return torch.ops.torchvision.nms(boxes, scores, iou_threshold)\n"
        )},
        "zero": ["test_nms_visible", "test_nms_hidden"],
        "message": "torch.ops.torchvision.nms",
    },
    # box_iou is torchvision's: 0 in its own cells and in nms's visible test (which runs the student's box_iou);
    # the hidden nms checks that give nms a correct box_iou pass, the one that runs the student's fails.
    "iou_via_box_iou": {
        "replace": {"box_iou": (
            "def box_iou(boxes1, boxes2):\n"
            "    from torchvision.ops import box_iou as tv_box_iou\n"
            "    return tv_box_iou(boxes1, boxes2)\n"
        )},
        "zero": ["test_box_iou_visible", "test_box_iou_hidden", "test_nms_visible"],
        "partial": {"test_nms_hidden": 9},
        "message": "box_iou",
    },
    # Multiplying by the mask and renormalising: right until an illegal point has by far the largest score (0/0).
    # The visible test has such a position; of the hidden checks exactly those with huge illegal scores fail.
    "policy_renormalises": {
        "replace": {"policy_forward": (
            "def policy_forward(x, conv_weights, conv_biases, head_weight, position_bias, legal):\n"
            "    h = x\n"
            "    for weight, bias in zip(conv_weights, conv_biases):\n"
            "        h = torch.relu(F.conv2d(h, weight, bias, padding=(weight.shape[-1] - 1) // 2))\n"
            "    p = torch.softmax(F.conv2d(h, head_weight).flatten(1) + position_bias, dim=1)\n"
            "    p = p * legal.reshape(p.shape)\n"
            "    return p / p.sum(dim=1, keepdim=True)\n"
        )},
        "zero": ["test_policy_forward_visible"],
        "partial": {"test_policy_forward_hidden": 17},
        "message": "policy_forward",
    },
    # gram_matrix is the reference's: 0 in its cells and in style_loss's visible test; the hidden style_loss
    # checks given a correct gram_matrix pass, the one that runs the student's fails.
    "gram_calls_reference": {
        "replace": {"gram_matrix": (
            "def gram_matrix(features):\n"
            "    from course_lib.generate import gram_matrix as reference\n"
            "    return reference(features)\n"
        )},
        "zero": ["test_gram_matrix_visible", "test_gram_matrix_hidden", "test_style_loss_visible"],
        "partial": {"test_style_loss_hidden": 5},
        "message": "course_lib.generate.gram_matrix",
    },
    "occlusion_calls_reference": {
        "replace": {"occlusion_map": (
            "def occlusion_map(model, image, target, patch_size, stride, fill):\n"
            "    from course_lib.visualize import occlusion_map as reference\n"
            "    return reference(model, image, target, patch_size=patch_size, stride=stride, fill=fill)\n"
        )},
        "zero": ["test_occlusion_map_visible", "test_occlusion_map_hidden"],
        "message": "course_lib.visualize.occlusion_map",
    },
    # nms calls box_iou (as the exercise asks) but computes its own IoUs inline and ignores the result: every
    # check given a correct box_iou passes, the one that replaces box_iou's result catches it.
    "nms_ignores_box_iou": {
        "replace": {"nms": (
            "def nms(boxes, scores, iou_threshold):\n"
            "    box_iou(boxes, boxes)\n"
            "    order = torch.sort(scores, descending=True, stable=True).indices\n"
            "    kept = []\n"
            "    for i in order.tolist():\n"
            "        x1, y1, x2, y2 = boxes[i].tolist()\n"
            "        def overlap(j):\n"
            "            a1, b1, a2, b2 = boxes[j].tolist()\n"
            "            w, h = max(min(x2, a2) - max(x1, a1), 0), max(min(y2, b2) - max(y1, b1), 0)\n"
            "            union = (x2 - x1) * (y2 - y1) + (a2 - a1) * (b2 - b1) - w * h\n"
            "            return w * h / union if union else float('nan')\n"
            "        if not any(overlap(j) > iou_threshold for j in kept):\n"
            "            kept.append(i)\n"
            "    return torch.tensor(kept, dtype=torch.int64, device=boxes.device)\n"
        )},
        "zero": [],
        "partial": {"test_nms_hidden": 9},
        "message": "nms should decide from the IoUs your box_iou returns",
    },
    # Suppressing at an IoU equal to the threshold (>= instead of >): the visible test has such a pair; of the
    # hidden checks only the one about IoUs equal to the threshold (and thresholds 0 and 1) fails.
    "nms_suppresses_equal_iou": {
        "replace": {"nms": (
            "def nms(boxes, scores, iou_threshold):\n"
            "    order = torch.sort(scores, descending=True, stable=True).indices\n"
            "    if len(order) == 0:\n"
            "        return torch.zeros(0, dtype=torch.int64, device=boxes.device)\n"
            "    overlap = box_iou(boxes[order], boxes[order]) >= iou_threshold\n"
            "    suppressed = torch.zeros(len(order), dtype=torch.bool, device=boxes.device)\n"
            "    kept = []\n"
            "    for i in range(len(order)):\n"
            "        if not suppressed[i]:\n"
            "            kept.append(int(order[i]))\n"
            "            suppressed |= overlap[i]\n"
            "    return torch.tensor(kept, dtype=torch.int64, device=boxes.device)\n"
        )},
        "zero": ["test_nms_visible"],
        "partial": {"test_nms_hidden": 9},
        "message": "IoU exactly",
    },
    # Ties ordered by an unstable sort (torch.argsort without stable=True, which reorders more than 16 equal
    # scores on the CPU): the visible test has 20 equal scores; of the hidden checks only the ties fail.
    "nms_unstable_sort": {
        "replace": {"nms": (
            "def nms(boxes, scores, iou_threshold):\n"
            "    order = torch.argsort(scores, descending=True)\n"
            "    if len(order) == 0:\n"
            "        return torch.zeros(0, dtype=torch.int64, device=boxes.device)\n"
            "    overlap = box_iou(boxes[order], boxes[order]) > iou_threshold\n"
            "    kept = []\n"
            "    for i in range(len(order)):\n"
            "        if not any(overlap[k, i] for k in kept):\n"
            "            kept.append(i)\n"
            "    return order[torch.tensor(kept, dtype=torch.int64, device=boxes.device)]\n"
        )},
        "zero": ["test_nms_visible"],
        "partial": {"test_nms_hidden": 8},
        "message": "equal scores",
    },
    # A correct box_iou that always answers in float64: the visible dtype check says so, and of the hidden
    # checks exactly the float32 ones fail ("float32 inputs" and "every device", which has float32 boxes).
    "iou_always_float64": {
        "replace": {"box_iou": (
            "def box_iou(boxes1, boxes2):\n"
            "    boxes1, boxes2 = boxes1.double(), boxes2.double()\n"
            "    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])\n"
            "    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])\n"
            "    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])\n"
            "    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])\n"
            "    wh = (bottom_right - top_left).clamp(min=0)\n"
            "    inter = wh[..., 0] * wh[..., 1]\n"
            "    return inter / (area1[:, None] + area2[None, :] - inter)\n"
        )},
        "zero": ["test_box_iou_visible"],
        "partial": {"test_box_iou_hidden": 4},
        "message": "keep the dtype of the input, float32",
    },
}
