"""Chapter 6's deep-dream and style-transfer images: the page calls :func:`generate` while it is built.

Run from the repository root to time them alone:  python book/ch6_applications/make_generated.py
Needs the probe CNN's weights (train_digit_cnn.py).  Seeded: on a CPU the same run gives the same images.
"""
from pathlib import Path

import numpy as np
import torch
from skimage import data, transform

from course_lib import generate as gen
from course_lib.models import get_model

HERE = Path(__file__).parent


def photo(array: np.ndarray, size: int) -> torch.Tensor:
    """An (H, W[, 3]) uint8 or float picture -> (3, size, size) float32 in [0, 1] (grey copied to RGB)."""
    image = transform.resize(array, (size, size), anti_aliasing=True)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return torch.from_numpy(image).permute(2, 0, 1).contiguous().float()


def inputs() -> dict[str, torch.Tensor]:
    """The pictures the chapter uses, cropped square and resized."""
    return {
        "content": photo(data.chelsea()[:, 60:360], 112),
        "style": photo(data.coffee()[:, 100:500], 112),
        "texture": photo(data.brick(), 112),
        "dream_input": photo(data.astronaut(), 128).mean(0, keepdim=True),
    }


def generate() -> dict:
    """Run the three optimisations of the chapter; returns images (float16), losses and seconds."""
    torch.manual_seed(0)
    pics = inputs()
    features = gen.random_feature_net(seed=0)
    styled = gen.style_transfer(pics["content"], pics["style"], features, steps=20, optimizer="lbfgs",
                                style_weight=1e4, tv_weight=10.0, seed=0)
    texture = gen.style_transfer(pics["content"], pics["texture"], features, steps=20, optimizer="lbfgs",
                                 content_weight=0.0, init="noise", style_weight=1e4, tv_weight=1.0, seed=0)
    probe = get_model("probe_cnn")
    probe.load_state_dict(torch.load(HERE / "digit_cnn.pt"))
    probe.eval().requires_grad_(False)
    dream = gen.deep_dream(pics["dream_input"], probe, 4, steps=8, octaves=3, lr=0.012, jitter=4, seed=0)
    result = {
        "styled": styled.image.half(), "styled_losses": styled.losses, "styled_seconds": styled.seconds,
        "texture": texture.image.half(), "texture_losses": texture.losses, "texture_seconds": texture.seconds,
        "dream": dream.image.half(), "dream_objective": dream.objective, "dream_seconds": dream.seconds,
        "threads": torch.get_num_threads(),
    }
    return result


def main() -> None:
    result = generate()
    styled, texture, dream = (result[f"{name}_seconds"] for name in ("styled", "texture", "dream"))
    print(f"style transfer {styled:.1f} s, texture {texture:.1f} s, deep dream {dream:.1f} s on "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
