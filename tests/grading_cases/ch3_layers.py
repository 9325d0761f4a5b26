"""Assignment 3 (pooling, batch norm, dropout, concatenation): cheats and a wrong
backward pass, for ``tests/test_pipeline.py``."""

CASES = {
    # torch does max pooling: exactly Part 1a's 14 points are lost, and the message names the call.
    "calls_max_pool2d": {
        "replace": {
            "max_pool_forward": '''
import torch.nn.functional as F


def max_pool_forward(x, kernel, stride):
    return F.max_pool2d(x, kernel, stride), (x, kernel, stride)
''',
        },
        "zero": ["test_max_pool_forward_visible", "test_max_pool_forward_hidden"],
        "message": "max_pool_forward calls torch.nn.functional.max_pool2d, which does the exercise for you",
    },
    # The evaluation formula in both modes (the batch statistics treated as constants in training):
    # exactly Part 3b's 17 points are lost.
    "broken_bn_backward": {
        "replace": {
            "batchnorm_backward": '''
def batchnorm_backward(dout, cache):
    """Forgets that, in training, the mean and the variance depend on x."""
    x, gamma, beta, bn_param = cache
    dims = (0,) + tuple(range(2, x.dim()))
    shape = (1, x.shape[1]) + (1,) * (x.dim() - 2)
    if bn_param["mode"] == "train":
        mean, var = x.mean(dim=dims), x.var(dim=dims, unbiased=False)
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    inv_std = 1.0 / torch.sqrt(var.reshape(shape) + bn_param["eps"])
    x_hat = (x - mean.reshape(shape)) * inv_std
    return dout * gamma.reshape(shape) * inv_std, (dout * x_hat).sum(dim=dims), dout.sum(dim=dims)
''',
        },
        "zero": ["test_batchnorm_backward_visible", "test_batchnorm_backward_hidden"],
        "message": "wrong value",
    },
    # Average pooling as a constant-kernel convolution, course_lib's average pooling backward, autograd
    # through the student's own max pooling, F.batch_norm, an nn.Dropout module and torch.cat:
    # 0 in exactly those functions' cells.
    "other_cheats": {
        "replace": {
            "avg_pool_forward": '''
def avg_pool_forward(x, kernel, stride):
    channels = x.shape[1]
    kh, kw = kernel
    w = x.new_full((channels, 1, kh, kw), 1.0 / (kh * kw))
    return torch.nn.functional.conv2d(x, w, stride=stride, groups=channels), (x, kernel, stride)
''',
            "avg_pool_backward": '''
def avg_pool_backward(dout, cache):
    from course_lib.functional import avg_pool2d_backward, avg_pool2d_forward
    x, kernel, stride = cache
    _, reference_cache = avg_pool2d_forward(x, kernel_size=kernel, stride=stride)
    return avg_pool2d_backward(dout, reference_cache)
''',
            "max_pool_backward": '''
def max_pool_backward(dout, cache):
    x, kernel, stride = cache
    x = x.detach().clone().requires_grad_(True)
    out, _ = max_pool_forward(x, kernel, stride)
    out.backward(dout)
    return x.grad
''',
            "batchnorm_forward": '''
def batchnorm_forward(x, gamma, beta, bn_param):
    out = torch.nn.functional.batch_norm(x, bn_param["running_mean"], bn_param["running_var"], gamma, beta,
                                         training=bn_param["mode"] == "train", momentum=bn_param["momentum"],
                                         eps=bn_param["eps"])
    return out, (x, gamma, beta, bn_param)
''',
            "dropout_forward": '''
def dropout_forward(x, p_keep, training, generator):
    layer = torch.nn.Dropout(1 - p_keep)
    layer.train(training)
    out = layer(x)
    return out, ((out != 0) if training else None, p_keep, training)
''',
            "concat_forward": '''
def concat_forward(xs, dim):
    d = dim % xs[0].dim()
    return torch.cat(xs, dim=d), (d, tuple(x.shape[d] for x in xs))
''',
        },
        "zero": [f"test_{name}_{kind}" for name in ("avg_pool_forward", "avg_pool_backward", "max_pool_backward",
                                                    "batchnorm_forward", "dropout_forward", "concat_forward")
                 for kind in ("visible", "hidden")],
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
def dropout_forward(x, p_keep, training, generator):
    if not training:
        return x, (None, p_keep, False)
    keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) < p_keep
    return x * keep, (keep, p_keep, True)
''',
        },
        "zero": ["test_dropout_forward_visible", "test_dropout_forward_hidden"],
        "partial": {"test_train_convnet_hidden": 11},
        "message": "wrong value",
    },
})
# Part 6 builds its network from the student's layers, so a wrong batch-norm backward pass also fails the gradient
# check of the network (3 of the 14 points of test_train_convnet_hidden); the network still learns.
CASES["broken_bn_backward"].setdefault("partial", {})["test_train_convnet_hidden"] = 11
