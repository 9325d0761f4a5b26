"""Cheat submissions of Assignment 4 (classic networks) for the parametrised nbgrader pipeline test,
and the partial credit of its sub-checks."""

_VGG_TORCHVISION = '''
def make_vgg(layers, in_channels, num_classes, input_size, batch_norm=False, hidden=4096, dropout=0.5):
    import torchvision

    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torchvision.models.vgg.make_layers(list(layers), batch_norm)
            size = input_size // 2 ** layers.count("M")
            c = [v for v in layers if v != "M"][-1]
            self.classifier = nn.Sequential(
                nn.Linear(c * size * size, hidden), nn.ReLU(), nn.Dropout(dropout),
                nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.features(x), 1))

    return VGG()
'''

_VGG_COURSE_LIB = '''
def make_vgg(layers, in_channels, num_classes, input_size, batch_norm=False, hidden=4096, dropout=0.5):
    from course_lib.models.vgg import vgg_from_layers

    return vgg_from_layers(layers, num_classes, in_channels=in_channels, input_size=input_size,
                           batch_norm=batch_norm, hidden=hidden, dropout=dropout)
'''

# A correct VGG except that its classifier always drops with probability 0.5: only the sizes part that reads the
# dropout probability fails (the values are compared in evaluation mode, where dropout does nothing).
_VGG_FIXED_DROPOUT = '''
def make_vgg(layers, in_channels, num_classes, input_size, batch_norm=False, hidden=4096, dropout=0.5):
    class VGG(nn.Module):
        def __init__(self):
            super().__init__()
            modules, c, size = [], in_channels, input_size
            for item in layers:
                if item == "M":
                    modules.append(nn.MaxPool2d(2, 2))
                    size //= 2
                else:
                    modules += [nn.Conv2d(c, item, 3, padding=1)] + [nn.BatchNorm2d(item)] * batch_norm + [nn.ReLU()]
                    c = item
            self.features = nn.Sequential(*modules)
            self.classifier = nn.Sequential(
                nn.Linear(c * size * size, hidden), nn.ReLU(), nn.Dropout(0.5),
                nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5), nn.Linear(hidden, num_classes))

        def forward(self, x):
            return self.classifier(self.features(x).flatten(1))

    return VGG()
'''

_VGG_CELLS = ["test_make_vgg_visible", "test_make_vgg_sizes_hidden", "test_make_vgg_values_hidden"]

CASES = {
    "calls_torchvision_vgg": {
        "replace": {"make_vgg": _VGG_TORCHVISION},
        "zero": _VGG_CELLS,
        "message": "torchvision.models.vgg.make_layers",
    },
    "calls_course_lib_models": {
        "replace": {"make_vgg": _VGG_COURSE_LIB},
        "zero": _VGG_CELLS,
        "message": "course_lib.models.vgg.vgg_from_layers",
    },
    "vgg_ignores_dropout": {
        "replace": {"make_vgg": _VGG_FIXED_DROPOUT},
        "zero": [],
        "partial": {"test_make_vgg_sizes_hidden": 7},
        "message": "use the argument `dropout`",
    },
    # The shortcut's projection forgets its batch norm.  The blocks are graded with the course's projection in
    # its place, so they lose only the parts that use the student's own projection; the visible test, which
    # counts the block's parameters and loads the course's weights, fails.
    "projection_without_batch_norm": {
        "replace": {"projection": '''
def projection(in_channels, out_channels, stride):
    if stride == 1 and in_channels == out_channels:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False))
'''},
        "zero": ["test_residual_visible"],
        "partial": {"test_basic_sizes_hidden": 3, "test_basic_values_hidden": 5,
                    "test_bottleneck_sizes_hidden": 3, "test_bottleneck_values_hidden": 5},
        "message": "your own projection",
    },
    # count_params_and_macs hands the work to course_lib.summary: every part of both cells fails, naming the call.
    "calls_course_lib_summary": {
        "replace": {"count_params_and_macs": '''
def count_params_and_macs(model, input_size):
    from course_lib.summary import summarize

    summary = summarize(model, tuple(input_size))
    return summary.total_params, summary.total_macs
'''},
        "zero": ["test_count_visible", "test_count_hidden"],
        "message": "calls course_lib.summary.summarize, which does the exercise for you",
    },
}
