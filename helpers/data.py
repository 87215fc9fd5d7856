"""The book's data sets, loaded as tensors.

* ``load_digits``     -- the 8x8 handwritten digits (UCI optical digits as bundled by
  scikit-learn), shipped in ``data/digits.npz``.
* ``load_synthetic``  -- synthetic 32x32 images whose class is decided by one planted
  upright glyph among two upside-down distractors, with the glyph's pixels as a
  ground-truth mask (and the distractors' and a Clever Hans mark's, on request);
  generated from a seed by ``make_synthetic`` (nothing to download, identical on
  every machine).
* ``load_tabular``    -- a small tabular regression set (house prices) with named
  features, shipped in ``data/tabular.csv``.
* ``load_diabetes``   -- the diabetes data of Efron et al. 2004 (442 patients, 10
  baseline variables, disease progression), shipped in ``data/diabetes.csv``.

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
SYNTHETIC_CLASSES = ("T", "L", "U", "triangle")
SYNTHETIC_SIZE = 32
SYNTHETIC_SEEDS = {"train": 0, "test": 1}
SYNTHETIC_COUNTS = {"train": 8000, "test": 1000}
TABULAR_FEATURES = (
    "floor_area_m2",
    "bedrooms",
    "age_years",
    "distance_to_centre_km",
    "garden",
    "energy_score",
)
TABULAR_TARGET = "price_k_eur"
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1_tc", "s2_ldl", "s3_hdl", "s4_tch",
                     "s5_ltg", "s6_glu")
DIABETES_TARGET = "progression"
DIABETES_TEST_ROWS = 88


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
    file: 1397 for training and 400 for testing.
    Used in chapters 00–09.
    """
    _check_split(split)
    with np.load(verified_path("digits.npz")) as f:
        images, labels, is_test = f["images"], f["labels"], f["is_test"]
    keep = is_test if split == "test" else ~is_test
    x = torch.from_numpy(images[keep].astype(np.float32) / 16.0).unsqueeze(1)
    y = torch.from_numpy(labels[keep].astype(np.int64))
    return Split(x, y)


# --- the synthetic shapes ---------------------------------------------------------
#
# Design (set v2; data/README.md has the numbers). Every image holds three glyphs of
# the same size, stroke and brightness distribution: one upright glyph, whose kind is
# the class, and two *upside-down* glyphs (the same four kinds rotated by 180 degrees,
# drawn at random in every class), which never decide the class. A map that treats a
# glyph and its rotation alike -- any pointwise function of x, an edge magnitude, a
# random map -- cannot tell the deciding glyph from a distractor: on average it puts
# as much on each distractor as on the class glyph (chance, in the sense of Kim, Plumb,
# Talwalkar 2022, "Sanity Simulations for Saliency Methods", ICML: the features the
# model must use are fixed by how the data is made). The background is a smooth
# random texture plus pixel noise. Everything is integer arithmetic on 0..255 levels
# (numpy's PCG64 integers), divided by 255 at the end, so every machine gets the
# same bits.

GLYPH = 9            # each glyph fills a 9x9 box
STROKE = 3           # with strokes 3 pixels thick (a sigma = 3 blur keeps a blob)
CORNER = 5           # the top-left 5x5 corner is kept free for the Clever Hans mark
BRIGHTNESS = (140, 255)   # glyph level, uniform integers (inclusive), out of 255
TEXTURE = (0, 90)    # background: bilinear texture from a 5x5 grid of such levels
NOISE = 15           # pixel noise: sum of two uniform integers in [-15, 15] (sd ~ 12.6)
MARK_LEVEL = 255


def _glyph(label: int) -> np.ndarray:
    """The upright 9x9 boolean glyph of a class (``SYNTHETIC_CLASSES[label]``)."""
    g = np.zeros((GLYPH, GLYPH), dtype=bool)
    s = STROKE
    if label == 0:    # T: a bar on top, a stem down the middle
        g[:s, :] = True
        g[:, 3:3 + s] = True
    elif label == 1:  # L: a stem on the left, a bar at the bottom
        g[:, :s] = True
        g[-s:, :] = True
    elif label == 2:  # U: two stems joined at the bottom
        g[:, :s] = g[:, -s:] = True
        g[-s:, :] = True
    else:             # triangle, filled, point up: row r is 2 * (r // 2) + 1 wide
        for r in range(GLYPH):
            h = r // 2
            g[r, 4 - h:4 + h + 1] = True
    return g


def _mark(label: int) -> np.ndarray:
    """The 3x3 Clever Hans mark of a class: a 3-pixel line (horizontal, vertical,
    diagonal, anti-diagonal), drawn at rows/cols 1..3 of the image's free corner."""
    m = np.zeros((3, 3), dtype=bool)
    idx = np.arange(3)
    if label == 0:
        m[1, :] = True
    elif label == 1:
        m[:, 1] = True
    elif label == 2:
        m[idx, idx] = True
    else:
        m[idx, 2 - idx] = True
    return m


class SyntheticSplit(NamedTuple):
    """The synthetic set with all its masks (``load_synthetic(..., masks="all")``):
    ``mask`` the deciding (upright) glyph, ``distractors`` the two upside-down glyphs,
    ``mark`` the Clever Hans mark (all False without one). Masks are bool (N, 1, H, W)."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    distractors: torch.Tensor
    mark: torch.Tensor


def _placements(rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` top-left corners of 9x9 boxes, at least one pixel apart and off the
    reserved corner, uniform over all such layouts (the whole layout is redrawn when
    any pair clashes, so the boxes are exchangeable)."""
    span = SYNTHETIC_SIZE - GLYPH + 1
    while True:
        pos = rng.integers(0, span, size=(count, 2))
        if np.any((pos[:, 0] < CORNER) & (pos[:, 1] < CORNER)):
            continue
        gaps = np.abs(pos[:, None, :] - pos[None, :, :])
        clash = (gaps < GLYPH + 1).all(axis=2)
        np.fill_diagonal(clash, False)
        if not clash.any():
            return pos


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A smooth background, int64 (32, 32): bilinear interpolation (integer weights,
    floor division) of a 5x5 grid of random levels spaced 8 pixels apart."""
    grid = rng.integers(TEXTURE[0], TEXTURE[1] + 1, size=(5, 5))
    step = SYNTHETIC_SIZE // 4
    i = np.arange(SYNTHETIC_SIZE)
    cell, frac = i // step, i % step
    w0, w1 = step - frac, frac          # integer weights, summing to `step`
    top = grid[cell][:, cell] * w0[None, :] + grid[cell][:, cell + 1] * w1[None, :]
    bottom = grid[cell + 1][:, cell] * w0[None, :] + grid[cell + 1][:, cell + 1] * w1[None, :]
    return (top * w0[:, None] + bottom * w1[:, None]) // (step * step)


def make_synthetic(n: int, seed: int, *, mark: str = "none",
                   class_glyph: bool = True) -> SyntheticSplit:
    """Generate ``n`` synthetic images from ``seed``, identical on every machine.

    Each 32x32 greyscale image holds three 9x9 glyphs (strokes 3 pixels thick) at
    random, non-overlapping places:

    * one **upright** glyph -- T, L, U or a triangle (``SYNTHETIC_CLASSES``): its kind
      is the label ``y``; ``mask`` marks its pixels;
    * two **distractors**: glyphs of random kinds rotated by 180 degrees (upside down),
      the same in every class; ``distractors`` marks their pixels.

    Every glyph has its own brightness, a uniform level in 140..255 (out of 255). The
    background is a smooth random texture (levels 0..90) and every pixel gets noise
    (sum of two uniform integers in -15..15, sd about 0.05), clipped to 0..255.
    Glyph and distractor share size, stroke, brightness and placement distributions,
    so the pixel values alone (their brightness, their edges) do not say which glyph
    decides the class: only its orientation and kind do.

    ``mark`` adds the Clever Hans mark (chapter 10; Lapuschkin et al. 2019, Nature
    Communications): a 3-pixel line at full brightness in the top-left corner, kept
    free of glyphs in every image. ``"class"``: its direction is set by the label (the
    shortcut); ``"random"``: a random direction (no information); ``"none"``: absent.
    The mark is drawn after the image and consumes no random numbers, so a marked set
    is its plain twin plus the mark. ``class_glyph=False`` leaves the upright glyph
    out (same random numbers, so the same distractors and background; ``mask`` is then
    all False): images with no class, used in training to keep such inputs uncertain.

    Returns ``SyntheticSplit(x, y, mask, distractors, mark)``: ``x`` float32
    (n, 1, 32, 32) with values k/255, ``y`` int64 (n,) in 0..3, the masks bool
    (n, 1, 32, 32). The first k images do not depend on n.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if mark not in ("none", "class", "random"):
        raise ValueError(f"mark must be 'none', 'class' or 'random', got {mark!r}")
    rng = np.random.Generator(np.random.PCG64(seed))
    size, kinds = SYNTHETIC_SIZE, len(SYNTHETIC_CLASSES)
    glyphs = [_glyph(c) for c in range(kinds)]
    labels = np.zeros(n, dtype=np.int64)
    images = np.zeros((n, size, size), dtype=np.int64)
    masks = np.zeros((n, size, size), dtype=bool)
    others = np.zeros((n, size, size), dtype=bool)
    marks = np.zeros((n, size, size), dtype=bool)
    mark_stream = np.random.Generator(np.random.PCG64([seed, 1]))
    for i in range(n):  # every image draws its numbers in turn from the one stream
        labels[i] = rng.integers(0, kinds)
        distractor_kinds = rng.integers(0, kinds, size=2)
        pos = _placements(rng, 3)
        levels = rng.integers(BRIGHTNESS[0], BRIGHTNESS[1] + 1, size=3)
        image = _texture(rng)
        stencils = [glyphs[labels[i]]] + [glyphs[k][::-1, ::-1] for k in distractor_kinds]
        for j, ((r, c), stencil) in enumerate(zip(pos, stencils)):
            if j == 0 and not class_glyph:
                continue
            box = (slice(r, r + GLYPH), slice(c, c + GLYPH))
            image[box][stencil] = levels[j]
            (masks if j == 0 else others)[i][box] |= stencil
        image += rng.integers(-NOISE, NOISE + 1, size=(2, size, size)).sum(axis=0)
        if mark != "none":
            code = labels[i] if mark == "class" else mark_stream.integers(0, kinds)
            marks[i, 1:4, 1:4] = _mark(int(code))
            image[marks[i]] = MARK_LEVEL
        images[i] = np.clip(image, 0, 255)
    as_tensor = lambda a: torch.from_numpy(a).unsqueeze(1)  # noqa: E731
    return SyntheticSplit(
        as_tensor((images.astype(np.float32) / np.float32(255.0)).astype(np.float32)),
        torch.from_numpy(labels),
        as_tensor(masks), as_tensor(others), as_tensor(marks),
    )


def add_mark(x: torch.Tensor, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw the Clever Hans mark of class ``codes[n]`` (0..3) on image ``x[n]`` (a copy;
    the same mark as ``make_synthetic(..., mark=...)``). Returns (marked images, the
    marks' bool masks (N, 1, 32, 32))."""
    masks = torch.zeros(x.shape, dtype=torch.bool)
    for n, code in enumerate(codes.tolist()):
        masks[n, 0, 1:4, 1:4] = torch.from_numpy(_mark(int(code)))
    return torch.where(masks, torch.tensor(MARK_LEVEL / 255.0, dtype=x.dtype), x), masks


def load_synthetic(split: str = "test", n: int | None = None, *, variant: str = "plain",
                   masks: str = "shape") -> Split | SyntheticSplit:
    """The synthetic glyphs set (see :func:`make_synthetic`): 8000 training images
    (seed 0) and 1000 test images (seed 1); ``n`` takes only the first n images of a
    split (the same images as in the whole split, generated faster).

    ``variant``: ``"plain"``; ``"hans"``, the Clever Hans twin of the same images,
    whose corner mark gives the class away (in both splits: a model trained on it
    scores high on its own test split); ``"hans_random"``, the same images with a
    mark of random direction (the mark carries no information).
    ``masks``: ``"shape"`` returns ``Split(x, y, mask)`` with the deciding glyph's
    mask; ``"all"`` returns a :class:`SyntheticSplit` with the distractors' and the
    mark's masks as well.
    Used in chapters 00, 02, 03, 05 and 07–10.
    """
    _check_split(split)
    variants = {"plain": "none", "hans": "class", "hans_random": "random"}
    if variant not in variants:
        raise ValueError(f"variant must be one of {sorted(variants)}, got {variant!r}")
    if masks not in ("shape", "all"):
        raise ValueError(f"masks must be 'shape' or 'all', got {masks!r}")
    total = SYNTHETIC_COUNTS[split]
    if n is None:
        n = total
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= total:
        raise ValueError(f"n must be an int from 1 to {total} for split {split!r}, got {n!r}")
    full = make_synthetic(n, SYNTHETIC_SEEDS[split], mark=variants[variant])
    return full if masks == "all" else Split(full.x, full.y, full.mask)


# --- the tabular set --------------------------------------------------------------



# --- the tabular set --------------------------------------------------------------

def _read_table(name: str, features, target: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, is_test) of a shipped CSV with one column per feature, the target and a
    "split" column (train/test)."""
    with open(verified_path(name), newline="") as f:
        rows = list(csv.DictReader(f))
    x = np.array([[float(r[column]) for column in features] for r in rows])
    y = np.array([float(r[target]) for r in rows])
    is_test = np.array([r["split"] == "test" for r in rows])
    return x, y, is_test


def _read_tabular() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _read_table("tabular.csv", TABULAR_FEATURES, TABULAR_TARGET)


def _table_split(table: tuple[np.ndarray, np.ndarray, np.ndarray], split: str) -> Split:
    """One split of a table read by ``_read_table``, in its original units (float64)."""
    _check_split(split)
    x, y, is_test = table
    keep = is_test if split == "test" else ~is_test
    return Split(torch.from_numpy(x[keep]), torch.from_numpy(y[keep]))


def _training_scaling(table: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """The training split's per-feature mean and standard deviation (float32; the
    standard deviation divides by N, not N - 1)."""
    x, _, is_test = table
    train = x[~is_test]
    return (torch.tensor(train.mean(0), dtype=torch.float32),
            torch.tensor(train.std(0), dtype=torch.float32))


def tabular_raw(split: str = "test") -> Split:
    """The tabular set in its original units (float64): ``x`` (N, 6), ``y`` (N,). Used in chapters 00 and 03."""
    return _table_split(_read_tabular(), split)


def tabular_scaling() -> tuple[torch.Tensor, torch.Tensor]:
    """The training split's per-feature mean and standard deviation (float32, (6,)). Used in chapter 03."""
    return _training_scaling(_read_tabular())


def load_tabular(split: str = "test") -> Split:
    """The house-price set, standardised: ``x`` float32 (N, 6), each feature minus the
    training mean, divided by the training standard deviation (so x = 0 is the
    average house); ``y`` float32 (N,), the price in thousands of euros.
    Feature names, in column order, are ``TABULAR_FEATURES``. 800 training rows and
    200 test rows.
    Used in chapters 00, 02, 03, 08 and 10.
    """
    raw = tabular_raw(split)
    mean, std = tabular_scaling()
    return Split((raw.x.float() - mean) / std, raw.y.float())


def make_tabular(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Generate the house-price table that ``data/tabular.csv`` ships (tools/make_data.py).

    A made-up but plausible city: price (k EUR) = 40 + 2.4 area + 6 bedrooms
    - 0.6 age - 3.5 distance + 18 garden + 0.3 energy score + noise (sigma 15),
    with bedrooms drawn to follow floor area. Returns (features (n, 6), prices (n,)).
    Used in chapter 03.
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


# --- the diabetes set -------------------------------------------------------------

def _read_diabetes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _read_table("diabetes.csv", DIABETES_FEATURES, DIABETES_TARGET)


def diabetes_raw(split: str = "test") -> Split:
    """The diabetes data in its original units (float64): ``x`` (N, 10), ``y`` (N,)."""
    return _table_split(_read_diabetes(), split)


def diabetes_scaling() -> tuple[torch.Tensor, torch.Tensor]:
    """The training split's per-feature mean and standard deviation (float32, (10,);
    the standard deviation divides by N, not N - 1)."""
    return _training_scaling(_read_diabetes())


def load_diabetes(split: str = "test") -> Split:
    """The diabetes data of Efron, Hastie, Johnstone, Tibshirani 2004 ("Least Angle
    Regression", Annals of Statistics), as bundled with scikit-learn: 442 patients,
    10 baseline variables (``DIABETES_FEATURES``: age, sex, body mass index, mean
    blood pressure and six blood serum measurements) and a measure of disease
    progression one year later.

    ``x`` float32 (N, 10): each variable minus its *training* mean, divided by its
    training standard deviation (``diabetes_scaling``; x = 0 is the average training
    patient). ``y`` float32 (N,): the progression in its original units (25..346).
    The split is fixed in ``data/diabetes.csv``: 354 training and 88 test rows
    (a seeded permutation, tools/make_data.py). ``diabetes_raw`` gives the
    original units. Used in chapter 08.
    """
    raw = diabetes_raw(split)
    mean, std = diabetes_scaling()
    return Split((raw.x.float() - mean) / std, raw.y.float())
