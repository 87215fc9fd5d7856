"""The shipped and generated data: shapes, dtypes, ranges, checksums, determinism."""
import hashlib
import shutil

import pytest
import torch

from helpers import data


def test_every_shipped_file_matches_its_checksum():
    table = data.expected_checksums()
    assert {"digits.npz", "tabular.csv", "models/digits_mlp.pt"} <= set(table)
    for name in table:
        data.verified_path(name)  # raises on a mismatch


@pytest.mark.parametrize("split,n", [("train", 1397), ("test", 400)])
def test_digits(split, n):
    x, y, mask = data.load_digits(split)
    assert x.shape == (n, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert mask is None
    assert 0 <= x.min() and x.max() <= 1
    assert set(y.tolist()) == set(range(10))


def test_digits_splits_are_disjoint_and_complete():
    train, test = data.load_digits("train"), data.load_digits("test")
    assert len(train.y) + len(test.y) == 1797
    flat_train = {tuple(r) for r in train.x.flatten(1).tolist()}
    shared = sum(tuple(r) in flat_train for r in test.x.flatten(1).tolist())
    assert shared < 5  # a handful of identical images exist in the original set


def test_synthetic_shapes_and_masks():
    x, y, mask = data.load_synthetic("test", n=200)
    assert x.shape == mask.shape == (200, 1, 32, 32)
    assert x.dtype == torch.float32 and mask.dtype == torch.bool and y.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1
    assert set(y.tolist()) == {0, 1, 2, 3}
    # values are exact 8-bit levels k/255
    levels = x * 255
    assert torch.equal(levels, levels.round())
    # the mask is exactly the upright glyph: its pixel count is set by the class
    counts = mask.flatten(1).sum(1)
    for label in range(4):
        assert counts[y == label].unique().numel() == 1


def test_synthetic_all_masks_are_disjoint_glyphs():
    s = data.load_synthetic("test", n=200, masks="all")
    assert isinstance(s, data.SyntheticSplit)
    assert not (s.mask & s.distractors).any() and not s.mark.any()
    # two distractors: 180-degree rotations of the four glyphs
    sizes = {int(data._glyph(k).sum()) for k in range(4)}
    pairs = {a + b for a in sizes for b in sizes}
    assert set(s.distractors.flatten(1).sum(1).tolist()) <= pairs
    # the deciding glyph and the distractors have the same brightness distribution
    # (each glyph's own level, uniform 140..255): their means agree within sampling
    inside, outside = s.x[s.mask].mean(), s.x[s.distractors].mean()
    assert abs(inside - outside) < 0.02
    glyphs = s.mask | s.distractors
    assert s.x[~glyphs].mean() + 0.3 < s.x[glyphs].mean()  # glyphs stand out


def test_a_sigma_3_blur_keeps_the_glyph_visible():
    # thick strokes: after a Gaussian blur of sigma 3 the glyph's box is still well
    # above the background (chapter 05's blurred baseline)
    from scipy.ndimage import gaussian_filter

    s = data.load_synthetic("test", n=100, masks="all")
    blurred = torch.from_numpy(gaussian_filter(s.x.numpy(), sigma=(0, 0, 3, 3)))
    glyphs = s.mask | s.distractors
    assert blurred[s.mask].mean() > blurred[~glyphs].mean() + 0.15


def test_clever_hans_twin_is_the_plain_set_plus_the_mark():
    plain = data.load_synthetic("train", n=100, masks="all")
    hans = data.load_synthetic("train", n=100, variant="hans", masks="all")
    assert torch.equal(plain.y, hans.y) and torch.equal(plain.mask, hans.mask)
    assert torch.equal(plain.x[~hans.mark], hans.x[~hans.mark])
    assert (hans.x[hans.mark] == 1).all()
    assert (hans.mark.flatten(1).sum(1) == 3).all()
    # the mark's direction is the class: one mark pattern per label
    for label in range(4):
        patterns = hans.mark[hans.y == label, 0, 1:4, 1:4]
        assert (patterns == patterns[0]).all()
    assert not (hans.mark & (hans.mask | hans.distractors)).any()
    shuffled = data.load_synthetic("train", n=100, variant="hans_random", masks="all")
    agree = [(shuffled.mark[i] == hans.mark[i]).all().item() for i in range(100)]
    assert 0.1 < sum(agree) / 100 < 0.45  # random direction: agrees 1 time in 4


def test_synthetic_is_deterministic_and_pinned():
    first, again = data.load_synthetic("test", n=50), data.make_synthetic(50, seed=1)
    assert torch.equal(first.x, again.x) and torch.equal(first.mask, again.mask)
    whole = data.load_synthetic("test", masks="all")
    digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in whole)).hexdigest()
    # Pinned so that a change to the generator (which would silently change every
    # chapter's figures and the synthetic model's meaning) fails here first.
    assert digest == "c3c8124d59a8b374a908f6e18a5359f4801bbc9431c41eb059973b35309871b9"


CONTROL_IMAGES = 1000


@pytest.fixture(scope="module")
def control_scores():
    """Mask mass and pointing of every model-free control on the whole test split,
    on the deciding glyph and on the distractors."""
    from helpers import metrics

    s = data.load_synthetic("test", masks="all")
    maps = metrics.controls(s.x, generator=torch.Generator().manual_seed(0))
    table = {}
    for name, m in maps.items():
        table[name] = dict(
            mass=metrics.mask_mass(m, s.mask).mean().item(),
            mass_distractors=metrics.mask_mass(m, s.distractors).mean().item(),
            pointing=metrics.pointing_game(m, s.mask).float().mean().item(),
            pointing_distractors=metrics.pointing_game(m, s.distractors).float().mean().item(),
        )
    area = s.mask.flatten(1).float().mean(1).mean().item()
    return table, area


def test_model_free_controls_score_at_chance(control_scores):
    """No map computed from the image alone can tell the deciding glyph from the two
    distractors: on average it scores half as much on the glyph as on the
    distractors together (the exchangeability of data/README.md), and the random map
    scores the mask's area share."""
    table, area = control_scores
    se_pointing = 0.5 / CONTROL_IMAGES ** 0.5
    for name, row in table.items():
        assert abs(row["mass"] - row["mass_distractors"] / 2) < 0.02, name
        assert abs(row["pointing"] - row["pointing_distractors"] / 2) < 4 * se_pointing, name
        # so at most a third of what the map puts on glyphs lands on the deciding one
        assert row["mass"] < 1 / 3 and row["pointing"] < 1 / 3 + 4 * se_pointing, name
    assert abs(table["random"]["mass"] - area) < 0.005
    assert abs(table["random"]["pointing"] - area) < 4 * se_pointing


def test_tabular():
    x, y, _ = data.load_tabular("train")
    assert x.shape == (800, 6) and x.dtype == torch.float32 and y.shape == (800,)
    torch.testing.assert_close(x.mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(6), atol=1e-4, rtol=0)
    test = data.load_tabular("test")
    assert test.x.shape == (200, 6)
    assert len(data.TABULAR_FEATURES) == 6


@pytest.mark.parametrize("call, message", [
    (lambda: data.load_digits("validation"), "split must be 'train' or 'test'"),
    (lambda: data.load_synthetic("test", n=0), "n must be an int from 1 to 1000"),
    (lambda: data.load_synthetic("train", n=9000), "n must be an int from 1 to 8000"),
    (lambda: data.load_synthetic("test", variant="marked"), "variant must be one of"),
    (lambda: data.load_synthetic("test", masks="both"), "masks must be 'shape' or 'all'"),
    (lambda: data.make_synthetic(5, 0, mark="yes"), "mark must be"),
])
def test_bad_arguments(call, message):
    # One expected message per bad call: an alternation would pass on the wrong error.
    with pytest.raises(ValueError, match=message):
        call()


def test_tampered_file_is_rejected(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    with open(copy / "digits.npz", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    monkeypatch.setattr(data, "DATA_DIR", copy)
    with pytest.raises(ValueError, match=r"checksum mismatch for data file 'digits.npz'"):
        data.load_digits()


def test_first_n_synthetic_images_do_not_depend_on_n():
    few, many = data.load_synthetic("test", n=20), data.load_synthetic("test", n=60)
    for a, b in zip(few, many):
        assert torch.equal(a, b[:20])
    hans_few = data.load_synthetic("test", n=20, variant="hans_random", masks="all")
    hans_many = data.load_synthetic("test", n=60, variant="hans_random", masks="all")
    for a, b in zip(hans_few, hans_many):
        assert torch.equal(a, b[:20])
