"""Assignment 1 (chain-rule backpropagation): its broken and cheating submissions,
in the format that ``tests/test_pipeline.py`` reads."""

CASES = {
    # mul_backward raises: the gates' visible test, its own test and the gate graph (which calls it) fail.
    "raises_mul_backward": {
        "replace": {
            "mul_backward": '''
def mul_backward(dout, x, y):
    raise ValueError("oops")
''',
        },
        "zero": ["test_gates_visible", "test_mul_backward", "test_gate_graph_visible", "test_gate_graph_hidden"],
        "message": "raised ValueError: oops",
    },
    # Results that claim to equal anything are refused, whatever they compare with.
    "eq_cheat": {
        "replace": {
            "relative_error": '''
class LyingFloat(float):
    """A float that compares equal to (and smaller than) anything."""

    def __eq__(self, other):
        return True

    __le__ = __lt__ = __ge__ = __gt__ = __eq__

    def __ne__(self, other):
        return False

    __hash__ = float.__hash__


def relative_error(a, b):
    return LyingFloat(123.0)
''',
            "numerical_gradient_array": '''
class AlwaysEqual:
    """Claims to equal anything, elementwise or not."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def allclose(self, *args, **kwargs):
        return True


def numerical_gradient_array(f, x, dout, h=1e-5):
    return AlwaysEqual()
''',
        },
        "zero": ["test_relative_error_visible", "test_relative_error_hidden", "test_numerical_gradient_visible",
                 "test_numerical_gradient_hidden"],
        "message": "should be a torch.Tensor (or a number), but it is a __main__.",
    },
    # relative_error returns course_lib's result; affine_backward lets autograd differentiate (and the
    # two-layer network, which calls it, loses its points too).
    "calls_reference": {
        "replace": {
            "relative_error": '''
def relative_error(a, b):
    from course_lib.gradcheck import relative_error as reference_relative_error
    return reference_relative_error(a, b)
''',
            "affine": '''
def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    x, w, b = (t.detach().clone().requires_grad_(True) for t in (x, w, b))
    out = x.reshape(x.shape[0], -1) @ w + b
    return torch.autograd.grad(out, (x, w, b), dout)
''',
        },
        "zero": ["test_relative_error_visible", "test_relative_error_hidden", "test_affine_visible",
                 "test_affine_hidden", "test_two_layer_visible", "test_two_layer_hidden"],
        "message": "which does the exercise for you",
    },
}
