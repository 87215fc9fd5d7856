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
    # the mask is exactly the planted shape: its pixel count is set by the class's stencil
    counts = mask.flatten(1).sum(1)
    for label in range(4):
        assert counts[y == label].unique().numel() == 1
    # the shape is bright: inside the mask the pixels are well above the background
    assert x[mask].mean() > 0.6 > x[~mask].mean() + 0.4


def test_synthetic_is_deterministic_and_pinned():
    first, again = data.load_synthetic("test", n=50), data.make_synthetic(50, seed=1)
    assert torch.equal(first.x, again.x) and torch.equal(first.mask, again.mask)
    whole = data.load_synthetic("test")
    digest = hashlib.sha256(whole.x.numpy().tobytes() + whole.y.numpy().tobytes()
                            + whole.mask.numpy().tobytes()).hexdigest()
    # Pinned so that a change to the generator (which would silently change every
    # chapter's figures and the synthetic model's meaning) fails here first.
    assert digest == "030cca9bc0322b7d8c09f2185a492fcccbf08e149ab44b33fe21687f075447b0"


def test_tabular():
    x, y, _ = data.load_tabular("train")
    assert x.shape == (800, 6) and x.dtype == torch.float32 and y.shape == (800,)
    torch.testing.assert_close(x.mean(0), torch.zeros(6), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(6), atol=1e-4, rtol=0)
    test = data.load_tabular("test")
    assert test.x.shape == (200, 6)
    assert len(data.TABULAR_FEATURES) == 6


@pytest.mark.parametrize("call", [lambda: data.load_digits("validation"),
                                  lambda: data.load_synthetic("test", n=0),
                                  lambda: data.load_synthetic("train", n=5000)])
def test_bad_arguments(call):
    with pytest.raises(ValueError, match="split|n must"):
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
