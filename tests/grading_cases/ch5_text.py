"""Assignment 5 (convolutional layers for sentences) as ``tests/test_pipeline.py`` grades it:
the cheats it must catch, and the partial credit of its named sub-checks.

Each case replaces answer cells of the reference notebook; the test cells in ``zero`` must score 0
with feedback that says ``message``, those in ``partial`` exactly the points given (their report
says ``message``), every other test cell full marks.
"""

CASES = {
    "kmax_calls_topk": {
        "replace": {"kmax_pool_forward": (
            "def kmax_pool_forward(x, k):\n"
            "    if k < 1 or k > x.shape[1]:\n"
            "        raise ValueError(f\"k = {k} must be between 1 and the length {x.shape[1]}\")\n"
            "    positions = torch.topk(x, k, dim=1).indices.sort(dim=1).values\n"
            "    return x.gather(1, positions), (x, positions)\n")},
        # the error checks never reach topk: they keep their points
        "zero": ["test_kmax_pool_forward_visible", "test_kmax_pool_forward_hidden"],
        "message": "topk",
    },
    "wide_conv_calls_conv1d": {
        "replace": {"wide_conv1d_forward": (
            "def wide_conv1d_forward(x, w, b):\n"
            "    import torch.nn.functional as F\n"
            "    out = F.conv1d(x.transpose(1, 2), w.transpose(1, 2), b, padding=w.shape[1] - 1)\n"
            "    return out.transpose(1, 2), (x, w, b)\n")},
        # Kim's forward pass must run with the student's own convolution, which calls conv1d: 0 there too
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
    # Accumulators created with torch.zeros(shape) are float32: on float64 inputs the gradients keep only about
    # 7 digits.  Exactly the float64-precision checks fail, visible and hidden, with a message that says how to
    # fix it.
    "float32_accumulators": {
        "replace": {
            "wide_conv1d_backward": '''
def wide_conv1d_backward(dout, cache):
    x, w, b = cache
    n_sent, length, emb = x.shape
    n_filters, width, _ = w.shape
    xpad = torch.cat([x.new_zeros(n_sent, width - 1, emb), x, x.new_zeros(n_sent, width - 1, emb)], dim=1)
    dxpad = torch.zeros(xpad.shape, device=x.device)
    dw = torch.zeros(w.shape, device=x.device)
    for t in range(dout.shape[1]):
        window = xpad[:, t:t + width].reshape(n_sent, -1)
        dw += (dout[:, t].T @ window).reshape(w.shape)
        dxpad[:, t:t + width] += (dout[:, t] @ w.reshape(n_filters, -1)).reshape(n_sent, width, emb)
    return dxpad[:, width - 1:width - 1 + length], dw, dout.sum(dim=(0, 1))
''',
        },
        "zero": [],
        "partial": {"test_wide_conv1d_backward_visible": 3, "test_wide_conv1d_backward_hidden": 7},
        "message": "your result has only float32 precision",
    },
    # Padding masked by multiplying with the mask: a padded 0 beats a sentence of negative values.  The visible
    # test shows it; the hidden test keeps the point of the cache.  Kim's network pools after a ReLU, where
    # every value is at least 0, so Part 5 keeps its points.
    "mask_by_multiplying": {
        "replace": {"max_over_time_forward": '''
def max_over_time_forward(x, mask):
    return (x * mask[:, :, None]).amax(dim=1), (x, mask)
'''},
        "zero": ["test_max_over_time_forward_visible"],
        "partial": {"test_max_over_time_forward_hidden": 1},
        "message": "max_over_time_forward: out",
    },
    # A convolution that forgets the bias loses Part 1a (all but the cache), but not Part 5's hidden points:
    # those run with the course's convolution (the visible test of Part 5 uses the student's own and shows it).
    "wide_conv_forgets_the_bias": {
        "replace": {"wide_conv1d_forward": '''
def wide_conv1d_forward(x, w, b):
    n_sent, length, emb = x.shape
    n_filters, width, _ = w.shape
    xpad = torch.cat([x.new_zeros(n_sent, width - 1, emb), x, x.new_zeros(n_sent, width - 1, emb)], dim=1)
    out = x.new_zeros(n_sent, length + width - 1, n_filters)
    for t in range(length + width - 1):
        out[:, t] = xpad[:, t:t + width].reshape(n_sent, -1) @ w.reshape(n_filters, -1).T
    return out, (x, w, b)
'''},
        "zero": ["test_wide_conv1d_forward_visible", "test_kim_forward_visible"],
        "partial": {"test_wide_conv1d_forward_hidden": 1},
        "message": "wide_conv1d_forward: out",
    },
    # Kim's forward pass calls the student's functions (as the visible test demands) but throws their results
    # away and computes everything inline: only the check that changes their results catches it.
    "kim_ignores_its_helpers": {
        "replace": {"kim_forward": '''
def kim_forward(ids, params):
    real = ids != 0
    x = params["embedding"][ids] * real[:, :, None]
    pooled = []
    for w, b in zip(params["conv_w"], params["conv_b"]):
        width = w.shape[1]
        maps, _ = wide_conv1d_forward(x, w, b)                     # called, and thrown away
        zeros = x.new_zeros(x.shape[0], width - 1, x.shape[2])
        xpad = torch.cat([zeros, x, zeros], dim=1)
        maps = torch.stack([torch.einsum("nue,fue->nf", xpad[:, t:t + width], w) + b
                            for t in range(x.shape[1] + width - 1)], dim=1).clamp(min=0)
        valid = torch.arange(maps.shape[1], device=ids.device)[None] < (real.sum(1) + width - 1)[:, None]
        max_over_time_forward(maps, valid)                          # called, and thrown away
        pooled.append(maps.masked_fill(~valid[:, :, None], float("-inf")).amax(dim=1))
    return torch.cat(pooled, dim=1) @ params["out_w"].T + params["out_b"]
'''},
        "zero": [],
        "partial": {"test_kim_forward_hidden": 12},
        "message": "kim_forward should compute its scores from what your wide_conv1d_forward",
    },
}
