"""Cheating submissions of Assignment 5 for the nbgrader pipeline test.

Each case replaces solution cells of the reference notebook; the listed test cells
must score 0 with feedback that names the forbidden call, every other cell full marks.
"""

CASES = {
    "kmax_calls_topk": {
        "replace": {"kmax_pool_forward": (
            "def kmax_pool_forward(x, k):\n"
            "    if k < 1 or k > x.shape[1]:\n"
            "        raise ValueError(f\"k = {k} must be between 1 and the length {x.shape[1]}\")\n"
            "    positions = torch.topk(x, k, dim=1).indices.sort(dim=1).values\n"
            "    return x.gather(1, positions), (x, positions)\n")},
        "zero": ["test_kmax_pool_forward_visible", "test_kmax_pool_forward_hidden"],
        "message": "topk",
    },
    "wide_conv_calls_conv1d": {
        "replace": {"wide_conv1d_forward": (
            "def wide_conv1d_forward(x, w, b):\n"
            "    import torch.nn.functional as F\n"
            "    out = F.conv1d(x.transpose(1, 2), w.transpose(1, 2), b, padding=w.shape[1] - 1)\n"
            "    return out.transpose(1, 2), (x, w, b)\n")},
        # Kim's forward pass uses the student's convolution, so its cells call conv1d too
        "zero": ["test_wide_conv1d_forward_visible", "test_wide_conv1d_forward_hidden",
                 "test_kim_forward_visible", "test_kim_forward_hidden"],
        "message": "conv1d",
    },
    "max_over_time_calls_max_pool1d": {
        "replace": {"max_over_time_forward": (
            "def max_over_time_forward(x, mask):\n"
            "    import torch.nn.functional as F\n"
            "    masked = x.masked_fill(~mask[:, :, None], float('-inf'))\n"
            "    out = F.max_pool1d(masked.transpose(1, 2), x.shape[1]).squeeze(2)\n"
            "    return out, (x, mask)\n")},
        "zero": ["test_max_over_time_forward_visible", "test_max_over_time_forward_hidden",
                 "test_kim_forward_visible", "test_kim_forward_hidden"],
        "message": "max_pool1d",
    },
    "fold_calls_the_reference": {
        "replace": {"fold": (
            "def fold_forward(x):\n"
            "    from course_lib.functional import fold_forward as reference\n"
            "    return reference(x)[0], x\n"
            "\n\n"
            "def fold_backward(dout, cache):\n"
            "    dx = torch.zeros_like(cache)\n"
            "    dx[..., 0::2] = dout\n"
            "    dx[..., 1::2] = dout\n"
            "    return dx\n")},
        "zero": ["test_fold_forward_visible", "test_fold_forward_hidden"],
        "message": "fold_forward",
    },
}
