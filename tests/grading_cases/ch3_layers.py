"""Assignment 3 (pooling, batch norm, dropout, concatenation): cheats, wrong functions and partly wrong
ones, for ``tests/test_pipeline.py``.  The hidden test cells score named checks on their own
(``course_lib.grading.Checks``): a cheat zeroes its function's cells, a mistake in one edge case costs
only the checks of that edge case."""

CASES = {
    # torch does max pooling: exactly Part 1a's 8 points are lost, and the message names the call.
    "calls_max_pool2d": {
        "replace": {
            "max_pool_forward": '''
import torch.nn.functional as F


def max_pool_forward(x, *, kernel_size, stride):
    return F.max_pool2d(x, kernel_size, stride), (x, kernel_size, stride)
''',
        },
        "zero": ["test_max_pool_forward_visible", "test_max_pool_forward_hidden"],
        "message": "max_pool_forward calls torch.nn.functional.max_pool2d, which does the exercise for you",
    },
    # The evaluation formula in both modes (the batch statistics treated as constants in training): the
    # visible tests fail, and the hidden cell keeps only its dgamma / dbeta and evaluation checks (3 of 8).
    "broken_bn_backward": {
        "replace": {
            "batchnorm_backward": '''
def batchnorm_backward(dout, cache):
    """Forgets that, in training, the mean and the variance depend on x."""
    x_hat, gamma, inv_std, training = cache
    dims = (0,) + tuple(range(2, x_hat.dim()))
    dx = dout * gamma.reshape(inv_std.shape) * inv_std
    return dx, (dout * x_hat).sum(dim=dims), dout.sum(dim=dims)
''',
        },
        "zero": ["test_batchnorm_backward_visible"],
        "partial": {"test_batchnorm_backward_hidden": 3},
        "message": "wrong value",
    },
    # Ties sent to every maximum of the window instead of the first: only the ties check is lost
    # (1.5 of the hidden cell's 8 points), and the visible tests, which show a tie, fail.
    "max_pool_ties_to_every_maximum": {
        "replace": {
            "max_pool_backward": '''
def max_pool_backward(dout, cache):
    x, kernel_size, stride = cache
    kh, kw = kernel_size
    _, _, oh, ow = dout.shape
    dx = torch.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            is_max = window == window.amax(dim=(2, 3), keepdim=True)
            dx[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw] += is_max * dout[:, :, i:i + 1, j:j + 1]
    return dx
''',
        },
        "zero": ["test_max_pool_backward_visible"],
        "partial": {"test_max_pool_backward_hidden": 6.5},
        "message": "only the first maximum gets the gradient",
    },
    # A float64 output whatever the input (torch.zeros with a fixed dtype): only the float32 check is lost
    # (0.5 of 6 points); the visible tests check a float32 input and say how to keep its dtype.
    "max_pool_float64_output": {
        "replace": {
            "max_pool_forward": '''
def max_pool_forward(x, *, kernel_size, stride):
    n, c, h, w = x.shape
    kh, kw = kernel_size
    out = torch.zeros(n, c, (h - kh) // stride + 1, (w - kw) // stride + 1, dtype=torch.float64, device=x.device)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw].amax(dim=(2, 3))
    return out, (x, kernel_size, stride)
''',
        },
        "zero": ["test_max_pool_forward_visible"],
        "partial": {"test_max_pool_forward_hidden": 5.5},
        "message": "keep the dtype of the input",
    },
    # The running variance updated with the biased batch variance: only the running-estimates check is lost
    # (2 of 9 points), and the message says which convention the result follows and what torch does.
    "bn_biased_running_variance": {
        "replace": {
            "batchnorm_forward": '''
def batchnorm_forward(x, gamma, beta, *, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    if training:
        mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
        running_mean.copy_((1 - momentum) * running_mean + momentum * mean)
        running_var.copy_((1 - momentum) * running_var + momentum * var)
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / torch.sqrt(var.reshape(shape) + eps)
    x_hat = (x - mean.reshape(shape)) * inv_std
    return gamma.reshape(shape) * x_hat + beta.reshape(shape), (x_hat, gamma, inv_std, training)
''',
        },
        "zero": ["test_batchnorm_forward_visible"],
        "partial": {"test_batchnorm_forward_hidden": 7},
        "message": "used the biased",
    },
    # Average pooling as a constant-kernel convolution, course_lib's average pooling backward, autograd
    # through the student's own max pooling, F.batch_norm, an nn.Dropout module and torch.cat:
    # 0 in exactly those functions' cells.
    "other_cheats": {
        "replace": {
            "avg_pool_forward": '''
def avg_pool_forward(x, *, kernel_size, stride):
    channels = x.shape[1]
    kh, kw = kernel_size
    w = x.new_full((channels, 1, kh, kw), 1.0 / (kh * kw))
    return torch.nn.functional.conv2d(x, w, stride=stride, groups=channels), (x, kernel_size, stride)
''',
            "avg_pool_backward": '''
def avg_pool_backward(dout, cache):
    from course_lib.functional import avg_pool2d_backward, avg_pool2d_forward
    x, kernel_size, stride = cache
    _, reference_cache = avg_pool2d_forward(x, kernel_size=kernel_size, stride=stride)
    return avg_pool2d_backward(dout, reference_cache)
''',
            "max_pool_backward": '''
def max_pool_backward(dout, cache):
    x, kernel_size, stride = cache
    x = x.detach().clone().requires_grad_(True)
    out, _ = max_pool_forward(x, kernel_size=kernel_size, stride=stride)
    out.backward(dout)
    return x.grad
''',
            "batchnorm_forward": '''
def batchnorm_forward(x, gamma, beta, *, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    out = torch.nn.functional.batch_norm(x, running_mean, running_var, gamma, beta, training=training,
                                         momentum=momentum, eps=eps)
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    return out, ((out - beta.reshape(shape)) / gamma.reshape(shape), gamma, None, training)
''',
            "dropout_forward": '''
def dropout_forward(x, *, p_keep=0.5, training=True, generator=None):
    layer = torch.nn.Dropout(1 - p_keep)
    layer.train(training)
    out = layer(x)
    return out, ((out != 0) / p_keep if training else None,)
''',
            "concat_forward": '''
def concat_forward(xs, *, dim=1):
    d = dim % xs[0].dim()
    return torch.cat(xs, dim=d), (d, tuple(x.shape[d] for x in xs))
''',
        },
        "zero": [f"test_{name}_{kind}" for name in ("avg_pool_forward", "avg_pool_backward", "max_pool_backward",
                                                    "batchnorm_forward", "dropout_forward", "concat_forward")
                 for kind in ("visible", "hidden")]
        # Part 6 trains with these layers: batch norm's cache has no inv_std, so its backward pass cannot run
        + ["test_train_convnet_hidden"],
        "message": "which does the exercise for you",
    },
}

# Part 6: the network of the digits, trained with the student's own layers.
CASES.update({
    # convnet_loss forgets ReLU's backward pass: the gradient checks of the network fail (the visible test, and
    # the parts of the hidden tests that compare gradients), while the scores, the use of the setup cell's
    # layers, the first loss and the training results still count.
    "convnet_skips_relu_backward": {
        "replace": {
            "convnet_loss": '''
def convnet_loss(params, bn_state, x, y=None, *, training, p_keep=0.75, generator=None):
    conv, conv_cache = conv2d_forward(x, params["W1"], None, padding=1)
    normed, bn_cache = bn_forward(conv, params["gamma"], params["beta"], bn_state, training)
    pooled, pool_cache = pool_forward(relu_forward(normed)[0])
    dropped, drop_cache = drop_forward(pooled, p_keep=p_keep, training=training, generator=generator)
    scores, affine_cache = affine_forward(dropped, params["W2"], params["b2"])
    if y is None:
        return scores
    loss, dscores = softmax_loss(scores, y)
    ddropped, dW2, db2 = affine_backward(dscores, affine_cache)
    dnormed = pool_backward(drop_backward(ddropped, drop_cache), pool_cache)   # ReLU's backward is missing
    dconv, dgamma, dbeta = bn_backward(dnormed, bn_cache)
    return loss, {"W1": conv2d_backward(dconv, conv_cache)[1], "gamma": dgamma, "beta": dbeta, "W2": dW2, "b2": db2}
''',
        },
        "zero": ["test_convnet_loss_visible"],
        "partial": {"test_convnet_loss_hidden": 3, "test_train_convnet_hidden": 11},
        "message": "wrong value",
    },
    # The network and its training handed to the course's reference network: every Part 6 cell scores 0 and
    # names the call.
    "calls_reference_network": {
        "replace": {
            "convnet_loss": '''
from course_lib.functional.small_convnet import small_convnet_loss


def convnet_loss(params, bn_state, x, y=None, *, training, p_keep=0.75, generator=None):
    return small_convnet_loss(params, bn_state, x, y, training=training, p_keep=p_keep, generator=generator)
''',
            "train_convnet": '''
from course_lib.functional.small_convnet import train_small_convnet


def train_convnet(params, bn_state, x, y, *, epochs, batch_size, learning_rate, momentum, p_keep, seed):
    return train_small_convnet(params, bn_state, x, y, epochs=epochs, batch_size=batch_size,
                               learning_rate=learning_rate, momentum=momentum, p_keep=p_keep, seed=seed)
''',
        },
        "zero": ["test_convnet_loss_visible", "test_convnet_loss_hidden", "test_train_convnet_hidden"],
        "message": "which does the exercise for you",
    },
    # dropout_forward forgets to divide by p_keep (its backward pass divides): Part 4a's tests fail, and so does
    # the gradient check of the network built with it; the network still learns.
    "dropout_unscaled": {
        "replace": {
            "dropout_forward": '''
def dropout_forward(x, *, p_keep=0.5, training=True, generator=None):
    if not training:
        return x, (None,)
    keep = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < p_keep).to(x.dtype)
    return x * keep, (keep / p_keep,)
''',
        },
        "zero": ["test_dropout_forward_visible"],
        # only evaluation mode (the identity) is right
        "partial": {"test_dropout_forward_hidden": 0.5, "test_train_convnet_hidden": 11},
        "message": "wrong value",
    },
})
# Part 6 builds its network from the student's layers, so a wrong batch-norm backward pass also fails the gradient
# check of the network (3 of the 14 points of test_train_convnet_hidden); the network still learns.
CASES["broken_bn_backward"].setdefault("partial", {})["test_train_convnet_hidden"] = 11
# A max-pool backward pass that sends the gradient to every tied maximum is also wrong inside the network (after
# ReLU, windows of zeros tie), so the network's gradient check fails there too.
CASES["max_pool_ties_to_every_maximum"].setdefault("partial", {})["test_train_convnet_hidden"] = 11
