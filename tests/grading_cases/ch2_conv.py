"""Assignment 2 (convolution) as ``tests/test_pipeline.py`` grades it:
the cheats it must catch, the endless loop it must stop, and the partial credit of its sub-checks."""

CASES = {
    # torch does the naive convolution: exactly Part 4's points are lost, and the message names the call.
    "calls_conv2d": {
        "replace": {
            "conv_forward_naive": '''
import torch.nn.functional as F


def conv_forward_naive(x, w, b, stride, padding):
    return F.conv2d(x, w, b, stride=stride, padding=padding), (x, w, b, stride, padding)
''',
        },
        "zero": ["test_conv_forward_naive_visible", "test_conv_forward_naive_hidden"],
        "message": "conv_forward_naive calls torch.nn.functional.conv2d, which does the exercise for you",
    },
    # Never returns: its two cells fail, each after one full time limit (the checks after the first get
    # short limits), everything else scores.
    "endless_loop": {
        "replace": {
            "conv_backward_naive": '''
def conv_backward_naive(dout, cache):
    while True:
        pass
''',
        },
        "zero": ["test_conv_backward_naive_visible", "test_conv_backward_naive_hidden"],
        "message": "conv_backward_naive took longer than 10 s",
    },
    # zero_pad calls F.pad, im2col uses Tensor.unfold and conv_backward_naive returns course_lib's reference:
    # 0 in exactly those parts.  conv_forward_im2col, given correct columns, keeps its points except the check
    # that runs the student's own im2col, which reaches Tensor.unfold.
    "other_cheats": {
        "replace": {
            "zero_pad": '''
def zero_pad(x, padding):
    return torch.nn.functional.pad(x, (padding, padding, padding, padding))
''',
            "conv_backward_naive": '''
def conv_backward_naive(dout, cache):
    from course_lib.functional import ConvCache, conv2d_backward
    x, w, b, stride, padding = cache
    return conv2d_backward(dout, ConvCache(x, w, True, (stride, stride), (padding, padding), (1, 1), 1))
''',
            "im2col": '''
def im2col(x, kernel_size, stride, padding):
    kh, kw = kernel_size
    windows = zero_pad(x, padding).unfold(2, kh, stride).unfold(3, kw, stride)   # (N, C, OH, OW, KH, KW)
    n, c, oh, ow = windows.shape[:4]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)
''',
        },
        "zero": ["test_zero_pad_visible", "test_zero_pad_hidden", "test_conv_backward_naive_visible",
                 "test_conv_backward_naive_hidden", "test_im2col_visible", "test_im2col_hidden",
                 "test_conv_forward_im2col_visible"],
        "partial": {"test_conv_forward_im2col_hidden": 7},
        "message": "which does the exercise for you",
    },
    # conv_forward_im2col calls im2col (as the test demands) but throws its columns away and returns the
    # naive loops' result: the loops of Part 4 are forbidden there, so every check fails.
    "ignores_im2col": {
        "replace": {
            "conv_forward_im2col": '''
def conv_forward_im2col(x, w, b, stride, padding):
    im2col(x, tuple(w.shape[2:]), stride, padding)
    out, _ = conv_forward_naive(x, w, b, stride, padding)
    return out
''',
        },
        "zero": ["test_conv_forward_im2col_visible", "test_conv_forward_im2col_hidden"],
        "message": "conv_forward_im2col calls __main__.conv_forward_naive, which does the exercise for you",
    },
    # The same, with the loops written out inside conv_forward_im2col: the checks given correct columns pass,
    # the one that changes the columns (to their cosines) catches it.
    "ignores_im2col_inline": {
        "replace": {
            "conv_forward_im2col": '''
def conv_forward_im2col(x, w, b, stride, padding):
    kh, kw = w.shape[2:]
    im2col(x, (kh, kw), stride, padding)                 # called, and its columns thrown away
    x_pad = zero_pad(x, padding)
    tops = range(0, x_pad.shape[2] - kh + 1, stride)
    lefts = range(0, x_pad.shape[3] - kw + 1, stride)
    rows = [torch.stack([torch.einsum("nchw,fchw->nf", x_pad[:, :, t:t + kh, l:l + kw], w) for l in lefts], -1)
            for t in tops]
    return torch.stack(rows, -2) + b.reshape(1, -1, 1, 1)
''',
        },
        "zero": [],
        "partial": {"test_conv_forward_im2col_hidden": 7},
        "message": "conv_forward_im2col should compute its output from the columns your im2col returns",
    },
    # Accumulators created with torch.zeros(shape) are float32: on float64 inputs every result keeps only
    # about 7 digits.  Exactly the float64-precision checks fail, visible and hidden, with a message that
    # says how to fix it.
    "float32_accumulators": {
        "replace": {
            "conv_forward_naive": '''
def conv_forward_naive(x, w, b, stride, padding):
    n_images, _, height, width = x.shape
    n_filters, _, kh, kw = w.shape
    oh = conv_output_size(height, kh, padding, stride)
    ow = conv_output_size(width, kw, padding, stride)
    x_pad = zero_pad(x, padding)
    out = torch.zeros(n_images, n_filters, oh, ow, device=x.device)
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    window = x_pad[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[n, f, i, j] = conv_single_step(window, w[f], b[f])
    return out, (x, w, b, stride, padding)
''',
            "conv_backward_naive": '''
def conv_backward_naive(dout, cache):
    x, w, b, stride, padding = cache
    kh, kw = w.shape[2:]
    x_pad = zero_pad(x, padding)
    dx_pad = torch.zeros(x_pad.shape, device=x.device)
    dw = torch.zeros(w.shape, device=x.device)
    db = torch.zeros(b.shape, device=x.device)
    for n in range(dout.shape[0]):
        for f in range(dout.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
                    dw[f] += dout[n, f, i, j] * x_pad[n, :, rows, cols]
                    dx_pad[n, :, rows, cols] += dout[n, f, i, j] * w[f]
                    db[f] += dout[n, f, i, j]
    return dx_pad[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]], dw, db
''',
        },
        "zero": [],
        "partial": {"test_conv_forward_naive_visible": 3, "test_conv_forward_naive_hidden": 16,
                    "test_conv_backward_naive_visible": 4, "test_conv_backward_naive_hidden": 17},
        "message": "your result has only float32 precision",
    },
}
