"""Small float64 models shared by the attribution tests.

Each builder seeds its own RNG state (the global RNG is restored afterwards),
returns a fresh model in eval mode, and never shares modules between models,
so tests may attach hooks or Captum rules without affecting each other.
"""

import torch
from torch import nn

DTYPE = torch.float64


def seeded(build, seed=0):
    """build() under a fixed seed (the global RNG restored), float64, eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    return model.to(DTYPE).eval()


def linear(d_in=5, n_out=3, seed=0):
    """A linear model: S_c = w_c . x + b_c."""
    return seeded(lambda: nn.Sequential(nn.Linear(d_in, n_out)), seed)


def mlp(d_in=6, hidden=8, n_out=4, bias=True, seed=1, inplace=False):
    """A two-hidden-layer ReLU network (in-place ReLUs, as torchvision builds them, if asked)."""
    return seeded(
        lambda: nn.Sequential(
            nn.Linear(d_in, hidden, bias=bias),
            nn.ReLU(inplace=inplace),
            nn.Linear(hidden, hidden, bias=bias),
            nn.ReLU(inplace=inplace),
            nn.Linear(hidden, n_out, bias=bias),
        ),
        seed,
    )


def image_mlp(bias=True, seed=2, inplace=False):
    """A ReLU network on (N, 1, 4, 4) images, flattened first."""
    return seeded(
        lambda: nn.Sequential(
            nn.Flatten(),
            nn.Linear(16, 10, bias=bias),
            nn.ReLU(inplace=inplace),
            nn.Linear(10, 3, bias=bias),
        ),
        seed,
    )


def cnn(seed=3, inplace=False):
    """A small CNN on (N, 1, 8, 8) images; model[3] is the last conv (4x4 output),
    followed by a ReLU that is in-place if asked (as in torchvision's VGG/ResNet)."""
    return seeded(
        lambda: nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.Flatten(),
            nn.Linear(6 * 4 * 4, 5),
        ),
        seed,
    )


def smooth_mlp(d_in=4, seed=4):
    """A smooth (tanh/softplus) network with one output per example."""
    return seeded(
        lambda: nn.Sequential(
            nn.Linear(d_in, 7),
            nn.Tanh(),
            nn.Linear(7, 5),
            nn.Softplus(),
            nn.Linear(5, 1),
        ),
        seed,
    )


def sequential(*layers):
    """An nn.Sequential of Linear/ReLU layers with weights and biases set by hand.

    Each Linear layer is given as (weight, bias) nested lists; the string
    "relu" inserts a ReLU.
    """
    modules = []
    for layer in layers:
        if layer == "relu":
            modules.append(nn.ReLU())
            continue
        weight, bias = (torch.tensor(v, dtype=DTYPE) for v in layer)
        linear_layer = nn.Linear(weight.shape[1], weight.shape[0]).to(DTYPE)
        with torch.no_grad():
            linear_layer.weight.copy_(weight)
            linear_layer.bias.copy_(bias)
        modules.append(linear_layer)
    return nn.Sequential(*modules).eval()


def one_minus_relu():
    """f(x) = 1 - ReLU(1 - x) (Sundararajan et al. 2017, Sec. 2.1)."""
    return sequential(([[-1.0]], [1.0]), "relu", ([[-1.0]], [1.0]))


def sundararajan_f():
    """f(x1, x2) = ReLU(ReLU(x1) - 1 - ReLU(x2))."""
    return sequential(([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]), "relu", ([[1.0, -1.0]], [-1.0]), "relu")


def sundararajan_g():
    """g(x1, x2) = ReLU(ReLU(x1 - 1) - ReLU(x2)): the same function as f."""
    return sequential(([[1.0, 0.0], [0.0, 1.0]], [-1.0, 0.0]), "relu", ([[1.0, -1.0]], [0.0]), "relu")


def minimum(x):
    """min(x1, x2) for a batch (N, 2)."""
    return torch.minimum(x[:, 0], x[:, 1])
