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
    # gate_graph_backward lets course_lib's scalar autodiff (Value(...).backward()) do the backward pass,
    # element by element on tensors: Part 2 scores 0 (Value's arithmetic reaches the reference gates).
    "value_backward": {
        "replace": {
            "gate_graph_backward": '''
from course_lib.autodiff import Value


def _value_graph(x1, x2, w, y1, y2):
    leaves = [Value(float(v)) for v in (x1, x2, w, y1, y2)]
    out = ((leaves[0] + leaves[1]) * leaves[2] * -1.0 + leaves[3].maximum(leaves[4])).exp().reciprocal()
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def gate_graph_backward(x1, x2, w, y1, y2):
    names = ("x1", "x2", "w", "y1", "y2")
    args = (x1, x2, w, y1, y2)
    if not isinstance(x1, torch.Tensor):
        f, grads = _value_graph(*args)
        return f, dict(zip(names, grads))
    flat = [a.reshape(-1).tolist() for a in args]
    results = [_value_graph(*point) for point in zip(*flat)]
    f = torch.tensor([r[0] for r in results], dtype=x1.dtype, device=x1.device).reshape(x1.shape)
    grads = {name: torch.tensor([r[1][i] for r in results], dtype=x1.dtype, device=x1.device).reshape(x1.shape)
             for i, name in enumerate(names)}
    return f, grads
''',
        },
        "zero": ["test_gate_graph_visible", "test_gate_graph_hidden"],
        "message": "gate_graph_backward calls course_lib.",
    },
    # gate_graph_backward right, but with closed-form derivatives instead of the gates of Part 1, which the
    # instructions ask it to call: the hidden test of Part 2 scores 0 and says which gates were not called.
    "closed_form_gate_graph": {
        "replace": {
            "gate_graph_backward": '''
def gate_graph_backward(x1, x2, w, y1, y2):
    tensors = isinstance(x1, torch.Tensor)
    a = x1 + x2
    m = torch.maximum(y1, y2) if tensors else max(y1, y2)
    f = torch.exp(a * w - m) if tensors else math.exp(a * w - m)
    first = (y1 >= y2).to(f.dtype) if tensors else float(y1 >= y2)
    grads = {"x1": f * w, "x2": f * w, "w": f * a, "y1": -f * first, "y2": -f * (1.0 - first)}
    return f, grads
''',
        },
        "zero": ["test_gate_graph_hidden"],
        "message": "gate_graph_backward should call your add_backward, mul_backward, max_backward, exp_backward, "
                   "reciprocal_backward",
    },
}
