"""The book's three data sets, loaded as tensors.

* ``load_digits``     -- the 8x8 handwritten digits (UCI optical digits as bundled by
  scikit-learn), shipped in ``data/digits.npz``.
* ``load_synthetic``  -- synthetic 32x32 images whose class is decided by one planted
  shape, with the shape's pixels as a ground-truth mask; generated from a seed by
  ``make_synthetic`` (nothing to download, identical on every machine).
* ``load_tabular``    -- a small tabular regression set (house prices) with named
  features, shipped in ``data/tabular.csv``.

Every loader returns a :class:`Split` ``(x, y, mask)``; shapes, dtypes and value
ranges are in each loader's docstring. ``data/README.md`` states provenance and
licence; ``data/checksums.sha256`` pins every shipped file.
"""
from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

# The repository's data/ folder (helpers is installed editable, so it sits beside it).
# ATTRIBUTION_BOOK_DATA overrides it, e.g. for a copy of the data elsewhere.
DATA_DIR = Path(os.environ.get("ATTRIBUTION_BOOK_DATA", Path(__file__).resolve().parent.parent / "data"))

DIGITS_CLASSES = tuple(str(d) for d in range(10))
SYNTHETIC_CLASSES = ("plus", "cross", "square", "ring")
SYNTHETIC_SIZE = 32
SYNTHETIC_SEEDS = {"train": 0, "test": 1}
SYNTHETIC_COUNTS = {"train": 4000, "test": 1000}
TABULAR_FEATURES = (
    "floor_area_m2",
    "bedrooms",
    "age_years",
    "distance_to_centre_km",
    "garden",
    "energy_score",
)
TABULAR_TARGET = "price_k_eur"


class Split(NamedTuple):
    """One split of a data set: inputs ``x``, labels or targets ``y``, and for the
    synthetic set the ground-truth ``mask`` (None elsewhere)."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor | None = None


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def expected_checksums() -> dict[str, str]:
    """``{relative path: sha256}`` from ``data/checksums.sha256`` (``sha256sum`` format)."""
    table = {}
    for line in (DATA_DIR / "checksums.sha256").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            table[name.strip()] = digest
    return table


def verified_path(name: str) -> Path:
    """The path of shipped file ``name`` (relative to data/), after checking its SHA-256.

    Raises ValueError naming the file when it is unknown or its checksum is wrong, so
    a corrupted or tampered file is never loaded.
    """
    table = expected_checksums()
    if name not in table:
        raise ValueError(f"data file {name!r} is not listed in data/checksums.sha256")
    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"data file {path.name!r} is missing from {DATA_DIR.name}/")
    actual = sha256(path)
    if actual != table[name]:
        raise ValueError(
            f"checksum mismatch for data file {name!r}: expected sha256 {table[name]}, "
            f"got {actual}. The file is corrupted or was changed; restore it from the repository."
        )
    return path


def load_digits(split: str = "test") -> Split:
    """The 8x8 handwritten digits (Alpaydin & Kaynak 1998, UCI; scikit-learn's copy).

    Returns ``Split(x, y)`` with ``x`` float32 of shape (N, 1, 8, 8) in [0, 1] (the
    original 0..16 ink counts divided by 16) and ``y`` int64 of shape (N,) in 0..9.
    The 1797 images are split once, by a fixed seeded permutation stored in the
    file: 1397 for training and 400 for testing. Used in chapters 00–09.
    """
    _check_split(split)
    with np.load(verified_path("digits.npz")) as f:
        images, labels, is_test = f["images"], f["labels"], f["is_test"]
    keep = is_test if split == "test" else ~is_test
    x = torch.from_numpy(images[keep].astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(labels[keep].astype(np.int64))
    return Split(x, y)


# --- the synthetic shapes ---------------------------------------------------------

def _shape_stencil(label: int) -> np.ndarray:
    """The 7x7 boolean stencil of a class's shape."""
    s = np.zeros((7, 7), dtype=bool)
    if label == 0:  # plus
        s[3, :] = s[:, 3] = True
    elif label == 1:  # cross (an x)
        idx = np.arange(7)
        s[idx, idx] = s[idx, 6 - idx] = True
    elif label == 2:  # hollow square
        s[0, :] = s[-1, :] = s[:, 0] = s[:, -1] = True
    else:  # ring: the cells at distance about 3 from the centre
        r = np.hypot(*np.meshgrid(np.arange(7) - 3, np.arange(7) - 3))
        s[(r > 2.2) & (r < 3.4)] = True
    return s


def make_synthetic(n: int, seed: int) -> Split:
    """Generate ``n`` synthetic images from ``seed`` (numpy's PCG64, so every machine
    gets the same images).

    Each 32x32 greyscale image holds one planted 7x7 shape -- plus, cross, hollow
    square or ring (``SYNTHETIC_CLASSES``) -- at a random position with a random
    brightness in [0.6, 1.0]; the shape alone decides the class. Three distractors
    (2x2 bright dots, which belong to no class) are placed outside the shape's box,
    and Gaussian pixel noise (sigma 0.05) is added before clipping to [0, 1].

    The ground-truth mask marks exactly the pixels of the planted shape: the pixels
    that decide the class.

    Returns ``Split(x, y, mask)``: ``x`` float32 (n, 1, 32, 32) in [0, 1], ``y`` int64
    (n,) in 0..3, ``mask`` bool (n, 1, 32, 32).
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    rng = np.random.Generator(np.random.PCG64(seed))
    size = SYNTHETIC_SIZE
    stencils = [_shape_stencil(c) for c in range(len(SYNTHETIC_CLASSES))]
    labels = np.zeros(n, dtype=np.int64)
    images = np.zeros((n, size, size), dtype=np.float64)
    masks = np.zeros((n, size, size), dtype=bool)
    # Every image draws all of its random numbers in turn from the one stream, so the
    # first k images are the same whatever n is.
    for i in range(n):
        labels[i] = rng.integers(0, len(SYNTHETIC_CLASSES))
        top, left = rng.integers(1, size - 8, size=2)
        masks[i, top:top + 7, left:left + 7] = stencils[labels[i]]
        images[i][masks[i]] = rng.uniform(0.6, 1.0)
        placed = 0
        while placed < 3:  # distractor dots, kept off the shape's 9x9 surroundings
            r, c = rng.integers(0, size - 1, size=2)
            if top - 2 <= r <= top + 7 and left - 2 <= c <= left + 7:
                continue
            images[i, r:r + 2, c:c + 2] = rng.uniform(0.5, 1.0)
            placed += 1
        images[i] += rng.normal(0.0, 0.05, size=(size, size))
    images = np.clip(images, 0.0, 1.0)
    return Split(
        torch.from_numpy(images.astype(np.float32)).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        torch.from_numpy(masks).unsqueeze(1),
    )


def load_synthetic(split: str = "test", n: int | None = None) -> Split:
    """The synthetic shapes set: 4000 training images (seed 0) and 1000 test images
    (seed 1); ``n`` takes only the first n images of a split (the same images as in
    the whole split, generated faster).
    See :func:`make_synthetic` for shapes, dtypes and what the mask means.
    Used in chapters 00, 02, 03, 05 and 07–09."""
    _check_split(split)
    total = SYNTHETIC_COUNTS[split]
    if n is None:
        n = total
    if not isinstance(n, int) or not 1 <= n <= total:
        raise ValueError(f"n must be an int from 1 to {total} for split {split!r}, got {n!r}")
    return make_synthetic(n, SYNTHETIC_SEEDS[split])


# --- the tabular set --------------------------------------------------------------

def _read_tabular() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with open(verified_path("tabular.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(r[name]) for name in TABULAR_FEATURES] for r in rows])
    y = np.array([float(r[TABULAR_TARGET]) for r in rows])
    is_test = np.array([r["split"] == "test" for r in rows])
    return x, y, is_test


def tabular_raw(split: str = "test") -> Split:
    """The tabular set in its original units (float64): ``x`` (N, 6), ``y`` (N,).
    Used in chapters 00 and 03."""
    _check_split(split)
    x, y, is_test = _read_tabular()
    keep = is_test if split == "test" else ~is_test
    return Split(torch.from_numpy(x[keep]), torch.from_numpy(y[keep]))


def tabular_scaling() -> tuple[torch.Tensor, torch.Tensor]:
    """The training split's per-feature mean and standard deviation (float32, (6,)).
    Used in chapter 03."""
    x, _, is_test = _read_tabular()
    train = x[~is_test]
    return torch.tensor(train.mean(0), dtype=torch.float32), torch.tensor(train.std(0), dtype=torch.float32)


def load_tabular(split: str = "test") -> Split:
    """The house-price set, standardised: ``x`` float32 (N, 6), each feature minus the
    training mean, divided by the training standard deviation (so x = 0 is the
    average house); ``y`` float32 (N,), the price in thousands of euros.
    Feature names, in column order, are ``TABULAR_FEATURES``. 800 training rows and
    200 test rows. Used in chapters 00, 02, 03 and 08."""
    raw = tabular_raw(split)
    mean, std = tabular_scaling()
    return Split((raw.x.float() - mean) / std, raw.y.float())


def make_tabular(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generate the house-price table that ``data/tabular.csv`` ships (tools/make_data.py).

    A made-up but plausible city: price (k EUR) = 40 + 2.4 area + 6 bedrooms
    - 0.6 age - 3.5 distance + 18 garden + 0.3 energy score + noise (sigma 15),
    with bedrooms drawn to follow floor area. Returns (features (n, 6), prices (n,)).
    """
    rng = np.random.Generator(np.random.PCG64(seed))
    area = rng.uniform(35, 180, n)
    bedrooms = np.clip(np.round(area / 35 + rng.normal(0, 0.6, n)), 1, 6)
    age = rng.uniform(0, 90, n)
    distance = rng.gamma(2.0, 3.0, n)
    garden = (rng.uniform(size=n) < 0.45).astype(float)
    energy = np.clip(rng.normal(60 - 0.3 * age, 12, n), 5, 100)
    price = (40 + 2.4 * area + 6 * bedrooms - 0.6 * age - 3.5 * distance + 18 * garden
             + 0.3 * energy + rng.normal(0, 15, n))
    x = np.stack([area, bedrooms, age, distance, garden, energy], axis=1)
    return np.round(x, 2), np.round(price, 1)
