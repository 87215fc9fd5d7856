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
    """An ``nn.Linear`` (float64) with the given weight matrix (out x in) and bias
    vector. Used in chapter 08."""
    weight = torch.as_tensor(weight, dtype=torch.float64)
    layer = nn.Linear(weight.shape[1], weight.shape[0]).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float64))
    return layer


def one_minus_relu() -> nn.Sequential:
    """f(x) = 1 - ReLU(1 - x), one input: flat (gradient 0) for x > 1 although f
    changes by 1 between x' = 0 and x = 2. Sundararajan, Taly & Yan 2017 (ICML),
    Section 2.1, the example that gradients break Sensitivity. Used in chapter 05."""
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
    ``sundararajan_f``, built differently (the -1 moved into the first layer).
    Used in chapters 05 and 08.
    """
    return nn.Sequential(
        linear_layer([[1.0, 0.0], [0.0, 1.0]], [-1.0, 0.0]), nn.ReLU(),
        linear_layer([[1.0, -1.0]], [0.0]), nn.ReLU(),
    ).eval()



def digits_mlp(hidden: tuple[int, ...] = (128, 64), bias: bool = True) -> nn.Sequential:
    """An MLP for the 8x8 digits: (N, 1, 8, 8) -> 64 -> hidden... -> 10 logits, ReLU
    between layers. ``bias=False`` gives a positively homogeneous network (chapter 04).
    Used in chapters 04 and 06.
    """
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
    """A CNN for the 32x32 synthetic glyphs: three 3x3 convolutions (16, 32, 32
    channels) with a 2x2 *average* pool after the first two, so the last convolution
    (index 6, its ReLU is index 7) works at 8x8 -- the resolution of a Grad-CAM map --
    then global average pooling and a linear layer to 4 logits.

    Average pools (not max-pools, not strides) pass every pixel's gradient on, so the
    gradient maps carry no period-2 grid (a max-pool routes the gradient through one
    pixel in four). Trained with batch normalisation, which ``tools/train_models.py``
    folds into the convolutions before saving, so the shipped model is plain
    convolutions and ReLUs (no layer keeps statistics)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, len(data.SYNTHETIC_CLASSES)),
    )


def synthetic_cnn_batchnorm() -> nn.Sequential:
    """``synthetic_cnn`` with a BatchNorm2d after each convolution: the network that
    ``tools/train_models.py`` trains (it learns much faster) before folding each
    batch norm into the convolution before it (:func:`fold_batchnorm`)."""
    plain = synthetic_cnn()
    layers: list[nn.Module] = []
    for layer in plain:
        layers.append(layer)
        if isinstance(layer, nn.Conv2d):
            layers.append(nn.BatchNorm2d(layer.out_channels))
    return nn.Sequential(*layers)


@torch.no_grad()
def fold_batchnorm(trained: nn.Sequential) -> nn.Sequential:
    """The plain ``synthetic_cnn`` computing what ``trained`` (a
    ``synthetic_cnn_batchnorm`` in eval mode) computes: each convolution followed by
    a batch norm, y = gamma (conv(x) - mu) / sqrt(var + eps) + beta, becomes one
    convolution with weight w gamma / sqrt(var + eps) and bias
    (b - mu) gamma / sqrt(var + eps) + beta."""
    plain = synthetic_cnn()
    source = [m for m in trained if not isinstance(m, nn.BatchNorm2d)]
    norms = iter(m for m in trained if isinstance(m, nn.BatchNorm2d))
    for target, layer in zip(plain, source):
        if isinstance(layer, nn.Conv2d):
            bn = next(norms)
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            target.weight.copy_(layer.weight * scale[:, None, None, None])
            target.bias.copy_((layer.bias - bn.running_mean) * scale + bn.bias)
        elif isinstance(layer, nn.Linear):
            target.load_state_dict(layer.state_dict())
    return plain.eval()


def untrained(name: str, seed: int) -> nn.Sequential:
    """The architecture of pretrained model ``name`` with PyTorch's default random
    initialisation drawn from ``seed``, in eval mode: the *untrained* control of
    chapters 09-10 (a map that looks the same on this network owes nothing to
    training). Seeds give independent draws; the global RNG is left untouched.
    Used in chapters 02, 03, 05 and 07–10.
    """
    from .contract import check_int

    check_int(seed, "seed", minimum=0)
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {sorted(PRETRAINED)}, got {name!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(name)
    return model.eval()


def tabular_linear() -> nn.Sequential:
    """Linear regression on the 6 standardised house features: price = w.x + b, (N, 1)."""
    return nn.Sequential(nn.Linear(len(data.TABULAR_FEATURES), 1))


def diabetes_mlp() -> nn.Sequential:
    """A small MLP for the diabetes data (``data.load_diabetes``): the 10 standardised
    baseline variables -> 32 -> 16 -> 1, ReLU between layers; the output is the
    predicted disease progression in its original units, (N, 1)."""
    return nn.Sequential(
        nn.Linear(len(data.DIABETES_FEATURES), 32), nn.ReLU(),
        nn.Linear(32, 16), nn.ReLU(),
        nn.Linear(16, 1),
    )


# name -> (builder, data set it was trained on); weights live in data/models/<name>.pt
PRETRAINED = {
    "digits_mlp": (lambda: digits_mlp(), "digits"),
    "digits_mlp_nobias": (lambda: digits_mlp(bias=False), "digits"),
    "digits_mlp_deep": (lambda: digits_mlp(hidden=(64,) * 8), "digits"),
    "digits_cnn": (digits_cnn, "digits"),
    "synthetic_cnn": (synthetic_cnn, "synthetic"),
    "synthetic_cnn_hans": (synthetic_cnn, "synthetic_hans"),
    "synthetic_cnn_shuffled": (synthetic_cnn, "synthetic_shuffled"),
    "tabular_linear": (tabular_linear, "tabular"),
    "diabetes_mlp": (diabetes_mlp, "diabetes"),
}


def build(name: str) -> nn.Sequential:
    """A freshly initialised (untrained) model of the architecture called ``name``.
    Used in chapters 00, 04 and 06."""
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {sorted(PRETRAINED)}, got {name!r}")
    return PRETRAINED[name][0]()


def load_pretrained(name: str) -> nn.Sequential:
    """The pretrained model ``name`` (one of ``PRETRAINED``), in eval mode.

    The weights file's SHA-256 is checked against ``data/checksums.sha256`` before it
    is read; a mismatch raises ValueError naming the file. Loading uses
    ``weights_only=True``, so the file can only hold tensors, never code.
    Used in chapters 00–10.
    """
    model = build(name)
    path = data.verified_path(f"models/{name}.pt")
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The share of examples whose highest logit is the label.
    Used in chapters 00, 02, 06 and 08–10."""
    with torch.no_grad():  # no graph: evaluating 1000 images must not hold one
        return (model(x).argmax(1) == y).float().mean().item()


# ---------------------------------------------------------------------------------
# MTCNN (Zhang et al. 2016), chapter 11
# ---------------------------------------------------------------------------------
# The three networks of the cascade of Zhang, Zhang, Li & Qiao 2016, "Joint Face
# Detection and Alignment Using Multitask Cascaded Convolutional Networks" (IEEE
# Signal Processing Letters 23(10)), Fig. 2: 3x3 convolutions, PReLU, max-pooling
# and dense layers. The layer names are those of facenet-pytorch (Esler 2019, MIT),
# whose state dicts ship unchanged in data/mtcnn/ (provenance in data/README.md).
#
# Input: RGB images scaled as (pixel - 127.5) / 128 (``mtcnn_input``), shape
# (N, 3, H, W) with H = W = 12 (P-Net; larger images give a map), 24 (R-Net) or
# 48 (O-Net). Output: ONE tensor per network, the heads concatenated on dim 1, so
# that every output is a ``target`` for helpers.attribution and Captum:
#   columns 0, 1  face classification logits (non-face, face); p(face) is their
#                 softmax, and log p/(1-p) = logit 1 - logit 0 (``face_log_odds``)
#   columns 2-5   bounding-box offsets (x1, y1, x2, y2), as fractions of the window
#   columns 6-15  O-Net only: five landmarks as fractions of the window, x first
#                 (columns 6-10: x of left eye, right eye, nose, left and right
#                 mouth corner, "left" meaning the image's left), then y (11-15).
# P-Net is fully convolutional: its output is (N, 6, h, w), one 12x12 window per
# position, stride 2.

import numpy as np  # noqa: E402  (this section's own import, kept beside it)

MTCNN_NETS = ("pnet", "rnet", "onet")
MTCNN_SIZES = {"pnet": 12, "rnet": 24, "onet": 48}
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
ONET_OUTPUTS = (
    ("not_face_logit", "face_logit", "box_x1", "box_y1", "box_x2", "box_y2")
    + tuple(f"{name}_x" for name in LANDMARKS)
    + tuple(f"{name}_y" for name in LANDMARKS)
)


def _flatten_transposed(a: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, W*H*C) in the order (W, H, C): the order of the original
    Caffe weights, which were trained on transposed images (MATLAB is column-major),
    kept through the TensorFlow and PyTorch conversions."""
    return a.permute(0, 3, 2, 1).reshape(len(a), -1)


class PNet(nn.Module):
    """MTCNN's Proposal Network: a fully convolutional net over 12x12 windows.

    conv 3x3 (10) - PReLU - max-pool 2/2 - conv 3x3 (16) - PReLU - conv 3x3 (32) -
    PReLU - two 1x1 convolutions: face logits (2) and box offsets (4).
    (N, 3, H, W) -> (N, 6, h, w), h = ceil((H - 2) / 2) - 4.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # face classification
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # bounding-box regression

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pool1(self.prelu1(self.conv1(x)))
        a = self.prelu3(self.conv3(self.prelu2(self.conv2(a))))
        return torch.cat([self.conv4_1(a), self.conv4_2(a)], dim=1)


class RNet(nn.Module):
    """MTCNN's Refine Network on 24x24 crops.

    conv 3x3 (28) - PReLU - max-pool 3/2 - conv 3x3 (48) - PReLU - max-pool 3/2 -
    conv 2x2 (64) - PReLU - dense 128 - PReLU - dense heads: face logits (2) and box
    offsets (4). (N, 3, 24, 24) -> (N, 6).
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)  # face classification
        self.dense5_2 = nn.Linear(128, 4)  # bounding-box regression

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pool1(self.prelu1(self.conv1(x)))
        a = self.pool2(self.prelu2(self.conv2(a)))
        a = self.prelu3(self.conv3(a))
        a = self.prelu4(self.dense4(_flatten_transposed(a)))
        return torch.cat([self.dense5_1(a), self.dense5_2(a)], dim=1)


class ONet(nn.Module):
    """MTCNN's Output Network on 48x48 crops.

    conv 3x3 (32) - PReLU - max-pool 3/2 - conv 3x3 (64) - PReLU - max-pool 3/2 -
    conv 3x3 (64) - PReLU - max-pool 2/2 - conv 2x2 (128) - PReLU (the last
    convolution, 3x3 positions: ``prelu4`` is the Grad-CAM layer) - dense 256 -
    PReLU - dense heads: face logits (2), box offsets (4), five landmarks (10).
    (N, 3, 48, 48) -> (N, 16), columns named in ``ONET_OUTPUTS``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)   # face classification
        self.dense6_2 = nn.Linear(256, 4)   # bounding-box regression
        self.dense6_3 = nn.Linear(256, 10)  # facial landmarks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.pool1(self.prelu1(self.conv1(x)))
        a = self.pool2(self.prelu2(self.conv2(a)))
        a = self.pool3(self.prelu3(self.conv3(a)))
        a = self.prelu4(self.conv4(a))
        a = self.prelu5(self.dense5(_flatten_transposed(a)))
        return torch.cat([self.dense6_1(a), self.dense6_2(a), self.dense6_3(a)], dim=1)


class FaceLogOdds(nn.Module):
    """``net(x)[:, 1] - net(x)[:, 0]``, shape (N, 1): the log-odds log p/(1 - p) of
    the face probability p = softmax(logits)[1] of an R-Net or O-Net (chapter 11).
    The one score to explain for "is this a face": p = sigmoid(log-odds). The
    wrapper shares ``net``'s parameters and takes over its train/eval mode.
    Used in chapter 11.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.train(net.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x)
        return (logits[:, 1] - logits[:, 0]).unsqueeze(1)


def build_mtcnn(name: str) -> nn.Module:
    """A freshly initialised (untrained) P-Net, R-Net or O-Net, in eval mode
    (PyTorch's default initialisation; seed torch's global RNG first).
    Used in chapter 11.
    """
    builders = {"pnet": PNet, "rnet": RNet, "onet": ONet}
    if not isinstance(name, str):
        raise TypeError(f"name must be one of {MTCNN_NETS}, got {type(name).__name__}")
    if name not in builders:
        raise ValueError(f"name must be one of {MTCNN_NETS}, got {name!r}")
    return builders[name]().eval()


def load_mtcnn(name: str) -> nn.Module:
    """MTCNN's pretrained ``name`` ("pnet", "rnet" or "onet"), in eval mode.

    The state dict ``data/mtcnn/<name>.pt`` (facenet-pytorch 2.6.0's file, byte for
    byte) is checked against ``data/checksums.sha256`` before it is read -- a
    mismatch raises ValueError naming the file -- and loaded with
    ``torch.load(..., weights_only=True)``, so it can hold tensors only, never code.
    Used in chapter 11.
    """
    net = build_mtcnn(name)
    path = data.verified_path(f"mtcnn/{name}.pt")
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval()


PHOTOS = ("astronaut", "chelsea", "coffee", "china", "flower")


def load_photo(name: str) -> torch.Tensor:
    """A shipped photograph ``data/photos/<name>.png`` (one of ``PHOTOS``; credits
    and licences in data/README.md) as a uint8 tensor of shape (H, W, 3), checked
    against its SHA-256 first. Pillow decodes it (PNG: lossless, so every machine
    gets the same pixels).
    Used in chapter 11.
    """
    from PIL import Image  # Pillow is a dependency of matplotlib

    if not isinstance(name, str):
        raise TypeError(f"name must be one of {PHOTOS}, got {type(name).__name__}")
    if name not in PHOTOS:
        raise ValueError(f"name must be one of {PHOTOS}, got {name!r}")
    with Image.open(data.verified_path(f"photos/{name}.png")) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(pixels)


def mtcnn_input(
    image: torch.Tensor, size: int | tuple[int, int] | None = None
) -> torch.Tensor:
    """RGB pixels -> MTCNN's input: ``(pixel - 127.5) / 128``, shape (N, 3, h, w).

    ``image`` is a uint8 tensor (H, W, 3) or (N, H, W, 3) with values 0..255 (as
    ``load_photo`` gives). With ``size`` the image is first resized to (size, size)
    or (h, w) by area averaging (``F.interpolate(mode="area")``, as facenet-pytorch
    does); the result is float32, roughly in [-1, 1].
    Used in chapter 11.
    """
    if not isinstance(image, torch.Tensor):
        kind = type(image).__name__
        raise TypeError(f"image must be a torch.Tensor of RGB pixels, got {kind}")
    if image.dtype != torch.uint8:
        raise TypeError(
            f"image must have dtype torch.uint8 (pixels 0..255), got {image.dtype}"
        )
    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[-1] != 3:
        raise ValueError(
            f"image must have shape (H, W, 3) or (N, H, W, 3), got {tuple(image.shape)}"
        )
    x = image.permute(0, 3, 1, 2).float()
    if size is not None:
        x = torch.nn.functional.interpolate(x, size=size, mode="area")
    return (x - 127.5) / 128.0
