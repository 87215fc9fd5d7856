"""The book's small models and their pretrained weights.

Every model is a plain ``nn.Sequential`` (so each layer can be read, hooked or
replaced) mapping a batch of inputs to one score per class: logits of shape (N, C),
or (N, 1) for the tabular regression. ``load_pretrained(name)`` builds the model,
checks the SHA-256 of its weights file in ``data/models/``, loads the weights with
``torch.load(..., weights_only=True)`` and returns it in eval mode.

The weights are trained by ``tools/train_models.py`` from a fixed seed; the test
accuracies are in ``data/README.md`` and asserted in ``tests/test_models.py``.
"""
from __future__ import annotations

import torch
from torch import nn

from . import data


# ---------------------------------------------------------------------------
# The papers' toy networks, weights set by hand (float64, eval mode)
# ---------------------------------------------------------------------------


def linear_layer(weight, bias) -> nn.Linear:
    """An ``nn.Linear`` (float64) with the given weight matrix (out x in) and bias vector."""
    weight = torch.as_tensor(weight, dtype=torch.float64)
    layer = nn.Linear(weight.shape[1], weight.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float64))
    return layer


def one_minus_relu() -> nn.Sequential:
    """f(x) = 1 - ReLU(1 - x), one input: flat (gradient 0) for x > 1 although f
    changes by 1 between x' = 0 and x = 2. Sundararajan, Taly & Yan 2017 (ICML),
    Section 2.1, the example that gradients break Sensitivity. Chapters 05 and 08."""
    return nn.Sequential(linear_layer([[-1.0]], [1.0]), nn.ReLU(), linear_layer([[-1.0]], [1.0])).eval()


def sundararajan_f() -> nn.Sequential:
    """f(x1, x2) = ReLU(ReLU(x1) - 1 - ReLU(x2)). With ``sundararajan_g`` the pair of
    networks that compute the same function with different weights, which
    Sundararajan, Taly & Yan 2017 (ICML) use to show that DeepLIFT and LRP break
    Implementation Invariance. Chapters 05 and 08."""
    return nn.Sequential(
        linear_layer([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]), nn.ReLU(),
        linear_layer([[1.0, -1.0]], [-1.0]), nn.ReLU(),
    ).eval()


def sundararajan_g() -> nn.Sequential:
    """g(x1, x2) = ReLU(ReLU(x1 - 1) - ReLU(x2)): the same function as
    ``sundararajan_f``, built differently (the -1 moved into the first layer)."""
    return nn.Sequential(
        linear_layer([[1.0, 0.0], [0.0, 1.0]], [-1.0, 0.0]), nn.ReLU(),
        linear_layer([[1.0, -1.0]], [0.0]), nn.ReLU(),
    ).eval()



def digits_mlp(hidden: tuple[int, ...] = (128, 64), bias: bool = True) -> nn.Sequential:
    """An MLP for the 8x8 digits: (N, 1, 8, 8) -> 64 -> hidden... -> 10 logits, ReLU
    between layers. ``bias=False`` gives a positively homogeneous network (chapter 04)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = 64
    for h in hidden:
        layers += [nn.Linear(width, h, bias=bias), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 10, bias=bias))
    return nn.Sequential(*layers)


def digits_cnn() -> nn.Sequential:
    """A small CNN for the 8x8 digits: two 3x3 convolutions (16 and 32 channels, 8x8
    resolution), a 2x2 max-pool to 4x4, then 512 -> 64 -> 10 logits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64), nn.ReLU(),
        nn.Linear(64, 10),
    )


def synthetic_cnn() -> nn.Sequential:
    """A CNN for the 32x32 synthetic shapes: three 3x3 convolutions (16, 32, 32
    channels) with 2x2 max-pools after the first two, so the last convolution
    (index 6, its ReLU is index 7) works at 8x8 -- the resolution of a Grad-CAM map --
    then global average pooling and a linear layer to 4 logits."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, len(data.SYNTHETIC_CLASSES)),
    )


def tabular_linear() -> nn.Sequential:
    """Linear regression on the 6 standardised house features: price = w.x + b, (N, 1)."""
    return nn.Sequential(nn.Linear(len(data.TABULAR_FEATURES), 1))


# name -> (builder, data set it was trained on); weights live in data/models/<name>.pt
PRETRAINED = {
    "digits_mlp": (lambda: digits_mlp(), "digits"),
    "digits_mlp_nobias": (lambda: digits_mlp(bias=False), "digits"),
    "digits_mlp_deep": (lambda: digits_mlp(hidden=(64,) * 8), "digits"),
    "digits_cnn": (digits_cnn, "digits"),
    "synthetic_cnn": (synthetic_cnn, "synthetic"),
    "tabular_linear": (tabular_linear, "tabular"),
}


def build(name: str) -> nn.Sequential:
    """A freshly initialised (untrained) model of the architecture called ``name``.
    Used in chapter 03."""
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {sorted(PRETRAINED)}, got {name!r}")
    return PRETRAINED[name][0]()


def load_pretrained(name: str) -> nn.Sequential:
    """The pretrained model ``name`` (one of ``PRETRAINED``), in eval mode.

    The weights file's SHA-256 is checked against ``data/checksums.sha256`` before it
    is read; a mismatch raises ValueError naming the file. Loading uses
    ``weights_only=True``, so the file can only hold tensors, never code.
    Used in chapters 00–09.
    """
    model = build(name)
    path = data.verified_path(f"models/{name}.pt")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of examples whose highest logit is the label.
    Used in chapters 00, 02, 08 and 09."""
    return (model(x).argmax(1) == y).float().mean().item()
