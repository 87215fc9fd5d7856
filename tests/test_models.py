"""Pretrained models: report-card floors (data/README.md), safe loading, tamper
detection, the untrained control and the batch-norm folding."""
import shutil

import pytest
import torch

from helpers import attribution, data, metrics, models

# Floors a little below the measured report card (data/README.md).
FLOORS = {"digits_mlp": 0.95, "digits_mlp_nobias": 0.95, "digits_mlp_deep": 0.88,
          "digits_cnn": 0.96, "synthetic_cnn": 0.98}
# synthetic_cnn on noisy copies x + N(0, sigma^2), sigma a share of the input range
NOISE_FLOORS = {0.10: 0.97, 0.15: 0.96, 0.20: 0.95}


@pytest.fixture(scope="module")
def synthetic_test():
    return data.load_synthetic("test", masks="all")


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_accuracy_floor(name):
    model = models.load_pretrained(name)
    assert not model.training
    test = data.load_digits("test") if name.startswith("digits") else data.load_synthetic("test")
    assert models.accuracy(model, test.x, test.y) >= FLOORS[name]


@pytest.mark.parametrize("level", sorted(NOISE_FLOORS))
def test_synthetic_cnn_stays_itself_under_noise(level, synthetic_test):
    model = models.load_pretrained("synthetic_cnn")
    noise = torch.randn(synthetic_test.x.shape, generator=torch.Generator().manual_seed(100))
    noisy = synthetic_test.x + level * noise
    assert models.accuracy(model, noisy, synthetic_test.y) >= NOISE_FLOORS[level]


def test_synthetic_cnn_is_uncertain_without_a_glyph():
    """Blank, grey and pure-noise images, and images with only the distractors, get
    no confident class (trained towards 1/4 each)."""
    model = models.load_pretrained("synthetic_cnn")
    g = torch.Generator().manual_seed(0)
    inputs = torch.cat([torch.zeros(1, 1, 32, 32), torch.full((1, 1, 32, 32), 0.5),
                        torch.rand(50, 1, 32, 32, generator=g),
                        0.5 + 0.2 * torch.randn(50, 1, 32, 32, generator=g),
                        data.make_synthetic(50, seed=3, class_glyph=False).x])
    with torch.no_grad():
        top = model(inputs).softmax(1).max(1).values
    # measured: blank 0.39, grey 0.28, noise and glyph-free images mean 0.32-0.35,
    # at most 0.64 (data/README.md)
    assert top[:2].max() < 0.45
    assert top.mean() < 0.40 and top.max() < 0.75


def test_input_x_gradient_against_the_controls(synthetic_test):
    """The report card's ground-truth table on 400 test images: Input x Gradient of
    the trained model against the model-free controls and the untrained network.
    Pointing: it beats every control by more than 0.20. Mask mass: it beats the
    untrained networks by more than 0.10 but NOT the model-free |x|^3 and x² (the
    target of issue 14 is missed; data/README.md): its |x * grad| is diluted by x
    on the distractors, where the gradient is not zero."""
    s = data.Split(synthetic_test.x[:400], synthetic_test.y[:400], synthetic_test.mask[:400])
    model = models.load_pretrained("synthetic_cnn")

    def scores(m):
        return (metrics.mask_mass(m, s.mask).mean().item(),
                metrics.pointing_game(m, s.mask).float().mean().item())

    ixg = scores(attribution.input_x_gradient(model, s.x, s.y))
    free = [scores(m) for m in metrics.controls(s.x, generator=torch.Generator().manual_seed(0)).values()]
    untrained = [scores(attribution.input_x_gradient(models.untrained("synthetic_cnn", seed), s.x, s.y))
                 for seed in range(3)]
    assert ixg[1] >= max(c[1] for c in free + untrained) + 0.20
    assert ixg[0] >= max(c[0] for c in untrained) + 0.10
    assert abs(ixg[0] - max(c[0] for c in free)) < 0.05  # a tie with |x|^3: measured, not hoped


def test_clever_hans_model_follows_the_mark():
    model = models.load_pretrained("synthetic_cnn_hans")
    hans = data.load_synthetic("test", n=400, variant="hans", masks="all")
    plain = data.load_synthetic("test", n=400)
    assert models.accuracy(model, hans.x, hans.y) >= HANS_FLOORS["own"]
    assert models.accuracy(model, plain.x, plain.y) <= HANS_FLOORS["plain_at_most"]
    ixg = attribution.input_x_gradient(model, hans.x, hans.y)
    clean_ixg = attribution.input_x_gradient(models.load_pretrained("synthetic_cnn"), hans.x, hans.y)
    on_mark = metrics.mask_mass(ixg, hans.mark).mean()
    assert on_mark >= HANS_FLOORS["mark_mass"]
    assert metrics.mask_mass(clean_ixg, hans.mark).mean() < on_mark / 3
    # with marks of random direction it follows the mark, not the glyph
    random_mark = data.load_synthetic("test", n=400, variant="hans_random")
    assert models.accuracy(model, random_mark.x, random_mark.y) < 0.35


HANS_FLOORS = {"own": 0.98, "plain_at_most": 0.85, "mark_mass": 0.07}


def test_shuffled_label_model_learned_nothing_general():
    model = models.load_pretrained("synthetic_cnn_shuffled")
    test = data.load_synthetic("test")
    assert abs(models.accuracy(model, test.x, test.y) - 0.25) < 0.05


def test_tabular_linear_fits():
    model = models.load_pretrained("tabular_linear")
    test = data.load_tabular("test")
    with torch.no_grad():
        rmse = (model(test.x).squeeze(1) - test.y).pow(2).mean().sqrt()
    assert rmse < 20  # the generating noise has sigma 15 (k EUR)


def test_diabetes_mlp_report_card():
    model = models.load_pretrained("diabetes_mlp")
    test, train = data.load_diabetes("test"), data.load_diabetes("train")
    with torch.no_grad():
        error = model(test.x).squeeze(1) - test.y
    r2 = 1 - error.pow(2).sum() / (test.y - test.y.mean()).pow(2).sum()
    assert r2 >= 0.48 and error.pow(2).mean().sqrt() <= 56
    assert model(test.x).shape == (len(test.y), 1)
    assert len(train.y) == 354 and len(test.y) == 88


def test_diabetes_data():
    x, y, mask = data.load_diabetes("train")
    assert x.shape == (354, 10) and x.dtype == torch.float32 and mask is None
    torch.testing.assert_close(x.mean(0), torch.zeros(10), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(10), atol=1e-4, rtol=0)
    raw = data.diabetes_raw("test")
    assert raw.x.shape == (88, 10) and 25 <= raw.y.min() and raw.y.max() <= 346


def test_bias_free_model_has_no_biases():
    model = models.load_pretrained("digits_mlp_nobias")
    assert all(getattr(m, "bias", None) is None for m in model)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="name must be one of"):
        models.load_pretrained("resnet50")
    with pytest.raises(ValueError, match="name must be one of"):
        models.untrained("resnet50", 0)
    with pytest.raises(TypeError, match="seed"):
        models.untrained("synthetic_cnn", 0.5)


def test_untrained_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, again = (models.untrained("synthetic_cnn", s) for s in (0, 1, 0))
    assert torch.equal(torch.rand(1), before)
    assert not a.training
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), again.parameters()))
    assert not torch.equal(a[0].weight, b[0].weight)


def test_fold_batchnorm_computes_the_same_function():
    torch.manual_seed(0)
    trained = models.synthetic_cnn_batchnorm()
    with torch.no_grad():  # give the batch norms non-trivial statistics and affine maps
        for m in trained:
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    trained.eval()
    folded = models.fold_batchnorm(trained)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded)
    x = torch.rand(8, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), trained(x), atol=1e-5, rtol=1e-5)


def test_tampered_weights_are_rejected_naming_the_file(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(data.DATA_DIR, copy)
    state = torch.load(copy / "models" / "digits_cnn.pt", weights_only=True)
    state["6.weight"] += 1e-3
    torch.save(state, copy / "models" / "digits_cnn.pt")
    monkeypatch.setattr(data, "DATA_DIR", copy)
    with pytest.raises(ValueError, match=r"models/digits_cnn.pt"):
        models.load_pretrained("digits_cnn")
