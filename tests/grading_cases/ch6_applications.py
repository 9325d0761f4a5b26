"""Cheat submissions of Assignment 6 for the nbgrader pipeline test: each replaces solution cells of the
reference and must score 0 in exactly the listed test cells, with feedback naming the call."""

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
    "iou_via_box_iou": {
        "replace": {"box_iou": (
            "def box_iou(boxes1, boxes2):\n"
            "    from torchvision.ops import box_iou as tv_box_iou\n"
            "    return tv_box_iou(boxes1, boxes2)\n"
        )},
        # nms of the reference uses the student's box_iou, so its cells fall with it
        "zero": ["test_box_iou_visible", "test_box_iou_hidden", "test_nms_visible", "test_nms_hidden"],
        "message": "box_iou",
    },
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
        "zero": ["test_policy_forward_hidden"],
        "message": "policy_forward",
    },
    "gram_calls_reference": {
        "replace": {"gram_matrix": (
            "def gram_matrix(features):\n"
            "    from course_lib.generate import gram_matrix as reference\n"
            "    return reference(features)\n"
        )},
        # style_loss uses the student's gram_matrix, so its cells fall with it
        "zero": ["test_gram_matrix_visible", "test_gram_matrix_hidden", "test_style_loss_visible",
                 "test_style_loss_hidden"],
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
}
