"""The image pool: discriminators see a history of generated images, not only the latest.

Shrivastava et al. (2017): updating the discriminator on a buffer of past fakes stops
generator and discriminator from chasing each other's latest move. As in the CycleGAN
reference, the pool keeps 50 images and answers each query image with, at even odds,
the image itself or a stored one it replaces. The pool draws from its own random
generator, saved with it, so a resumed run draws the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor


class ImagePool:
    """A history of up to ``size`` images (C, H, W); size 0 passes queries through.

    Parameters
    ----------
    size
        Images kept.
    seed
        Seed of the pool's random generator.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.images: list[Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: Tensor) -> Tensor:
        """Images (B, C, H, W) to show the discriminator in place of ``images``."""
        if self.size == 0:
            return images
        answer = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                answer.append(image)
            elif torch.rand((), generator=self.generator) < 0.5:
                index = int(torch.randint(self.size, (), generator=self.generator))
                answer.append(self.images[index])
                self.images[index] = image.clone()
            else:
                answer.append(image)
        return torch.stack(answer)

    def state_dict(self) -> dict[str, object]:
        """The stored images and the random generator's state."""
        return {"images": list(self.images), "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict`'s images onto ``device`` and the generator's state."""
        self.images = [image.to(device) for image in state["images"]]
        self.generator.set_state(state["generator"].cpu())
