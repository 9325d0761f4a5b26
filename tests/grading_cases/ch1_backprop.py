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
    # element by element on tensors: Part 2 scores 0 (the whole library is forbidden, Value included).
    "value_backward": {
        "replace": {
            "gate_graph_backward": '''
from course_lib.autodiff import Value


def _value_graph(x, y, z, s):
    leaves = [Value(float(v)) for v in (x, y, z, s)]
    out = (leaves[0] * leaves[1] + leaves[1].maximum(leaves[2])) * (leaves[3].exp() + 1.0).reciprocal()
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def gate_graph_backward(x, y, z, s):
    names = ("x", "y", "z", "s")
    args = (x, y, z, s)
    if not isinstance(x, torch.Tensor):
        f, grads = _value_graph(*args)
        return f, dict(zip(names, grads))
    flat = [a.reshape(-1).tolist() for a in args]
    results = [_value_graph(*point) for point in zip(*flat)]
    f = torch.tensor([r[0] for r in results], dtype=x.dtype, device=x.device).reshape(x.shape)
    grads = {name: torch.tensor([r[1][i] for r in results], dtype=x.dtype, device=x.device).reshape(x.shape)
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
def gate_graph_backward(x, y, z, s):
    tensors = isinstance(x, torch.Tensor)
    y_wins = (y >= z).to(torch.float64) if tensors else float(y >= z)
    m = torch.maximum(y, z) if tensors else max(y, z)
    r = 1.0 / (1.0 + (torch.exp(s) if tensors else math.exp(s)))
    n = x * y + m
    grads = {"x": r * y, "y": r * (x + y_wins), "z": r * (1.0 - y_wins), "s": -n * r * (1.0 - r)}
    return n * r, grads
''',
        },
        "zero": ["test_gate_graph_hidden"],
        "message": "gate_graph_backward should call your add_backward, mul_backward, max_backward, exp_backward, "
                   "reciprocal_backward",
    },
    # softmax_loss subtracts the row maximum but takes log(p): right except where a probability underflows
    # to 0 (scores thousands apart).  The visible test shows it; the hidden test costs only that check.
    "softmax_log_of_probability": {
        "replace": {
            "softmax_loss": '''
def softmax_loss(scores, y):
    n = scores.shape[0]
    exps = (scores - scores.max(dim=1, keepdim=True).values).exp()
    probs = exps / exps.sum(dim=1, keepdim=True)
    rows = torch.arange(n, device=scores.device)
    labels = y.to(scores.device)
    loss = -probs[rows, labels].log().mean()
    dscores = probs.clone()
    dscores[rows, labels] -= 1.0
    return loss, dscores / n
''',
        },
        "zero": ["test_softmax_loss_visible"],
        "partial": {"test_softmax_loss_hidden": 5},
        "message": "widely spread scores",
    },
    # max_backward sends the gradient of a tie to y instead of x: Part 1 loses its tie checks; Part 2, graded
    # with the course's gates, loses only its check with the student's own gates (no cascade).
    "max_tie_to_y": {
        "replace": {
            "max_backward": '''
def max_backward(dout, x, y):
    if not isinstance(dout, torch.Tensor):
        return (dout * 1.0, 0.0) if x > y else (0.0, dout * 1.0)
    x_wins = x > y
    zero = torch.zeros_like(dout)
    return torch.where(x_wins, dout, zero), torch.where(x_wins, zero, dout)
''',
        },
        "zero": ["test_gates_visible"],
        "partial": {"test_max_backward": 3, "test_gate_graph_hidden": 8},
        "message": "tie",
    },
    # relu_backward forgets the mask (dx = dout): the ReLU's tests and the visible test of the network (random
    # parameters) fail; the network's hidden test, graded with the course's layers, loses only its check with
    # the student's own layers.
    "relu_without_mask": {
        "replace": {
            "relu": '''
def relu_forward(x):
    return torch.where(x > 0, x, torch.zeros_like(x)), x


def relu_backward(dout, cache):
    return dout.clone()
''',
        },
        "zero": ["test_relu_visible", "test_relu_hidden", "test_two_layer_visible"],
        "partial": {"test_two_layer_hidden": 7},
        "message": "wrong value",
    },
    # numerical_gradient_array builds its result in float32 (torch.zeros(x.shape)): close enough for the
    # usual checks, it loses only the float64 precision check.
    "numerical_gradient_float32": {
        "replace": {
            "numerical_gradient_array": '''
def numerical_gradient_array(f, x, dout, h=1e-5):
    grad = torch.zeros(x.shape, device=x.device)
    flat = x.view(-1)
    for i in range(flat.numel()):
        old = flat[i].item()
        flat[i] = old + h
        plus = (f(x) * dout).sum().item()
        flat[i] = old - h
        minus = (f(x) * dout).sum().item()
        flat[i] = old
        grad.view(-1)[i] = (plus - minus) / (2 * h)
    return grad
''',
        },
        "zero": [],
        "partial": {"test_numerical_gradient_hidden": 6},
        "message": "float64 precision",
    },
}
