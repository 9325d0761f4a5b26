"""course_lib.train: the seeded training loop, accuracy, predictions and confusion matrices."""
import pytest
import torch
from torch.utils.data import TensorDataset

from course_lib.device import available_devices
from course_lib.train import History, confusion_matrix, evaluate, fit, predict

pytestmark = pytest.mark.ch4

DEVICES = [pytest.param(d, id=str(d)) for d in available_devices()]


def blobs(n=200, seed=0, d=2, k=3):
    """k well separated Gaussian blobs in d dimensions: (x (n, d) float32, y (n,) int64)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    centers = 4 * torch.randn(k, d, generator=g)
    x = centers[y] + 0.3 * torch.randn(n, d, generator=g)
    return TensorDataset(x, y)


def mlp(seed=0, d=2, k=3, dropout=0.0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Dropout(dropout),
                               torch.nn.Linear(16, k))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_learns_separable_blobs(device, optimizer):
    model = mlp()
    h = fit(model, blobs(), blobs(seed=0), epochs=15, lr=0.05 if optimizer == "sgd" else 0.01,
            batch_size=32, optimizer=optimizer, device=device, progress=False)
    assert isinstance(h, History)
    assert h.epochs == 15 and len(h.step_loss) == 15 * 7  # ceil(200 / 32) = 7 steps per epoch
    assert len(h.val_acc) == len(h.val_loss) == len(h.train_acc) == 15
    assert h.step_loss[-1] < h.step_loss[0]
    assert h.train_acc[-1] > 0.95 and h.val_acc[-1] > 0.95
    assert evaluate(model, blobs(seed=0)) == pytest.approx(h.val_acc[-1])
    assert h.seconds > 0
    assert next(model.parameters()).device.type == torch.device(device).type


def test_fit_is_deterministic_on_cpu_and_leaves_global_rng_alone():
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = mlp(seed=5, dropout=0.3)
        after_init = torch.get_rng_state()
        h = fit(model, blobs(), epochs=3, lr=0.05, device="cpu", seed=7, progress=False)
        assert torch.equal(torch.get_rng_state(), after_init)
        runs.append((h.step_loss, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        assert torch.equal(a, b)
    other = mlp(seed=5, dropout=0.3)
    h2 = fit(other, blobs(), epochs=3, lr=0.05, device="cpu", seed=8, progress=False)
    assert h2.step_loss != runs[0][0]


def test_fit_matches_a_hand_written_sgd_loop():
    """One epoch, full batch, plain SGD: fit must do exactly one gradient step."""
    data = blobs(n=30)
    model, ref = mlp(seed=1), mlp(seed=1)
    fit(model, data, epochs=1, lr=0.1, batch_size=30, momentum=0.0, device="cpu", progress=False)
    x, y = data.tensors
    loss = torch.nn.functional.cross_entropy(ref(x), y)
    loss.backward()
    with torch.no_grad():
        for p in ref.parameters():
            p -= 0.1 * p.grad
    for a, b in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b)


def test_fit_works_on_token_indices():
    """x may be any indexable tensor, e.g. int64 token ids for an embedding model."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 20, (120, 7), generator=g)
    y = (x[:, 0] < 10).long()  # the class is decided by the first token
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(20, 8), torch.nn.Flatten(), torch.nn.Linear(56, 2))
    h = fit(model, TensorDataset(x, y), epochs=20, lr=0.01, optimizer="adam", device="cpu", progress=False)
    assert h.train_acc[-1] > 0.95


def test_auxiliary_outputs_are_weighted():
    class TwoHeads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Linear(2, 3), torch.nn.Linear(2, 3)

        def forward(self, x):
            return (self.a(x), self.b(x)) if self.training else self.a(x)

    torch.manual_seed(0)
    model = TwoHeads()
    fit(model, blobs(), epochs=5, lr=0.05, device="cpu", progress=False)
    assert model.b.weight.grad is not None  # the auxiliary head was trained too
    assert evaluate(model, blobs()) > 0.9


def test_predict_evaluate_confusion_are_consistent():
    model = mlp()
    data = blobs(n=90)
    fit(model, data, epochs=10, lr=0.05, device="cpu", progress=False)
    model.train()
    pred = predict(model, data)
    assert model.training  # mode restored
    assert pred.dtype == torch.int64 and pred.shape == (90,)
    assert torch.equal(pred, predict(model, data.tensors[0]))
    cm = confusion_matrix(model, data, 3)
    assert cm.dtype == torch.int64 and cm.shape == (3, 3)
    y = data.tensors[1]
    assert cm.sum(1).tolist() == torch.bincount(y, minlength=3).tolist()
    assert cm.diag().sum().item() / 90 == pytest.approx(evaluate(model, data))
    for i in range(3):
        for j in range(3):
            assert cm[i, j] == ((y == i) & (pred == j)).sum()


def test_bad_inputs_are_named():
    model = mlp()
    with pytest.raises(TypeError, match="train must be a TensorDataset"):
        fit(model, [1, 2], epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="int64"):
        fit(model, TensorDataset(torch.zeros(4, 2), torch.zeros(4)), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="x has 4 samples but y has 3"):
        fit(model, (torch.zeros(4, 2), torch.zeros(3, dtype=torch.long)), epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="optimizer"):
        fit(model, blobs(), epochs=1, lr=0.1, optimizer="rmsprop", progress=False)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, blobs(), epochs=0, lr=0.1)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix(model, blobs(), 2)
