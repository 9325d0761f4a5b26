"""Cheat submissions of Assignment 4 (classic networks) for the parametrised nbgrader pipeline test."""

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
}
