"""Assignment 2 (convolution) as ``tests/test_pipeline.py`` grades it:
the cheats it must catch and the endless loop it must stop."""

CASES = {
    # torch does the naive convolution: exactly Part 4's points are lost, and the message names the call.
    "calls_conv2d": {
        "replace": {
            "conv_forward_naive": '''
import torch.nn.functional as F


def conv_forward_naive(x, w, b, stride, pad):
    return F.conv2d(x, w, b, stride=stride, padding=pad), (x, w, b, stride, pad)
''',
        },
        "zero": ["test_conv_forward_naive_visible", "test_conv_forward_naive_hidden"],
        "message": "conv_forward_naive calls torch.nn.functional.conv2d, which does the exercise for you",
    },
    # Never returns: its two cells fail at the time limit, everything else scores.
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
    # zero_pad calls F.pad, im2col uses Tensor.unfold (which conv_forward_im2col then reaches too) and
    # conv_backward_naive returns course_lib's reference: 0 in exactly those parts.
    "other_cheats": {
        "replace": {
            "zero_pad": '''
def zero_pad(x, pad):
    return torch.nn.functional.pad(x, (pad, pad, pad, pad))
''',
            "conv_backward_naive": '''
def conv_backward_naive(dout, cache):
    from course_lib.functional import ConvCache, conv2d_backward
    x, w, b, stride, pad = cache
    return conv2d_backward(dout, ConvCache(x, w, True, (stride, stride), (pad, pad), (1, 1), 1))
''',
            "im2col": '''
def im2col(x, kernel_size, stride, pad):
    kh, kw = kernel_size
    windows = zero_pad(x, pad).unfold(2, kh, stride).unfold(3, kw, stride)   # (N, C, OH, OW, KH, KW)
    n, c, oh, ow = windows.shape[:4]
    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * kh * kw, oh * ow)
''',
        },
        "zero": ["test_zero_pad_visible", "test_zero_pad_hidden", "test_conv_backward_naive_visible",
                 "test_conv_backward_naive_hidden", "test_im2col_visible", "test_im2col_hidden",
                 "test_conv_forward_im2col_visible", "test_conv_forward_im2col_hidden"],
        "message": "which does the exercise for you",
    },
    # conv_forward_im2col calls im2col (as the test demands) but throws its columns away and returns the
    # naive loops' result: the hidden test, which changes im2col's columns, catches it.
    "ignores_im2col": {
        "replace": {
            "conv_forward_im2col": '''
def conv_forward_im2col(x, w, b, stride, pad):
    im2col(x, tuple(w.shape[2:]), stride, pad)
    out, _ = conv_forward_naive(x, w, b, stride, pad)
    return out
''',
        },
        "zero": ["test_conv_forward_im2col_hidden"],
        "message": "conv_forward_im2col should compute its output from the columns your im2col returns",
    },
}
