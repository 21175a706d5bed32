"""Small torch modules the PyTorch export uses (imported only when exporting; needs ``torch``).

In a module of its own so that an exported ``nn.Sequential`` can be pickled whole: its classes
have an importable name, ``mitbadak.files._torch_modules.Scale``.
"""

from __future__ import annotations

import torch

__all__ = ["Scale"]


class Scale(torch.nn.Module):
    """y = x * scale, a constant: the book's Dropout at test time (scale = 1 - dropout ratio).

    ``scale`` is a buffer (it is in the state_dict, no optimizer trains it).
    """

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale), dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        return f"scale={float(self.scale):g}"
