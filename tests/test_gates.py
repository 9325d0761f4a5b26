"""course_lib.gates: local backward rules on numbers and tensors, against torch autograd."""
import pytest
import torch

from course_lib import gates

pytestmark = pytest.mark.ch1


CASES = {
    "add": (gates.add_backward, lambda x, y: x + y, 2),
    "mul": (gates.mul_backward, lambda x, y: x * y, 2),
    "max": (gates.max_backward, torch.maximum, 2),
    "exp": (gates.exp_backward, torch.exp, 1),
    "reciprocal": (gates.reciprocal_backward, torch.reciprocal, 1),
    "relu": (gates.relu_backward, torch.relu, 1),
    "sigmoid": (gates.sigmoid_backward, torch.sigmoid, 1),
    "tanh": (gates.tanh_backward, torch.tanh, 1),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tensor_gate_backward_matches_autograd(name, device):
    backward, forward, arity = CASES[name]
    gen = torch.Generator().manual_seed(hash(name) % 2**31)
    inputs = [(torch.rand(3, 5, generator=gen, dtype=torch.float64) * 4 - 2 + 0.01).to(device) for _ in range(arity)]
    if name == "reciprocal":
        inputs[0] = inputs[0].abs() + 0.5
    leaves = [t.clone().requires_grad_(True) for t in inputs]
    dout = torch.randn(3, 5, generator=gen, dtype=torch.float64).to(device)
    forward(*leaves).backward(dout)
    ours = backward(dout, *inputs)
    ours = ours if isinstance(ours, tuple) else (ours,)
    for got, leaf in zip(ours, leaves):
        assert got.device == leaf.device
        torch.testing.assert_close(got, leaf.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_number_gate_backward_matches_tensor_version(name):
    backward, _, arity = CASES[name]
    xs = [0.7, -1.3][:arity]
    number = backward(2.0, *xs)
    tensor = backward(torch.tensor(2.0, dtype=torch.float64), *[torch.tensor(x, dtype=torch.float64) for x in xs])
    number = number if isinstance(number, tuple) else (number,)
    tensor = tensor if isinstance(tensor, tuple) else (tensor,)
    assert [float(t) for t in tensor] == pytest.approx([float(n) for n in number], rel=1e-12)


def test_max_backward_ties_go_to_first_input_for_tensors():
    x = torch.tensor([1.0, 2.0, 3.0])
    y = torch.tensor([1.0, 5.0, 0.0])
    dx, dy = gates.max_backward(torch.ones(3), x, y)
    assert dx.tolist() == [1.0, 0.0, 1.0]
    assert dy.tolist() == [0.0, 1.0, 0.0]


def test_relu_backward_is_zero_at_zero():
    assert gates.relu_backward(1.0, 0.0) == 0.0
    assert gates.relu_backward(torch.ones(1), torch.zeros(1)).item() == 0.0
