"""Pretrained models: accuracy floors, safe loading, tamper detection."""
import shutil

import pytest
import torch

from helpers import data, models

FLOORS = {"digits_mlp": 0.95, "digits_mlp_nobias": 0.95, "digits_mlp_deep": 0.88,
          "digits_cnn": 0.96, "synthetic_cnn": 0.97}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_accuracy_floor(name):
    model = models.load_pretrained(name)
    assert not model.training
    test = data.load_digits("test") if name.startswith("digits") else data.load_synthetic("test")
    assert models.accuracy(model, test.x, test.y) >= FLOORS[name]


def test_tabular_linear_fits():
    model = models.load_pretrained("tabular_linear")
    test = data.load_tabular("test")
    with torch.no_grad():
        rmse = (model(test.x).squeeze(1) - test.y).pow(2).mean().sqrt()
    assert rmse < 20  # the generating noise has sigma 15 (k EUR)


def test_bias_free_model_has_no_biases():
    model = models.load_pretrained("digits_mlp_nobias")
    assert all(getattr(m, "bias", None) is None for m in model)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="name must be one of"):
        models.load_pretrained("resnet50")


def test_tampered_weights_are_rejected_naming_the_file(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    state = torch.load(copy / "models" / "digits_cnn.pt", weights_only=True)
    state["6.weight"] += 1e-3
    torch.save(state, copy / "models" / "digits_cnn.pt")
    monkeypatch.setattr(data, "DATA_DIR", copy)
    with pytest.raises(ValueError, match=r"models/digits_cnn.pt"):
        models.load_pretrained("digits_cnn")
