"""Measure the report card of every shipped model (data/README.md, tests/test_models.py).

    python tools/report_card.py              # every model
    python tools/report_card.py synthetic    # the synthetic CNNs only

Prints: clean test accuracy; accuracy on noisy copies (Gaussian noise of 10, 15, 20 %
of the input range, three noise draws each); what the model predicts on a blank
(all-zero) image, a mid-grey image and 100 pure-noise images (uniform in [0, 1]);
for synthetic_cnn the ground-truth table (Input x Gradient against the model-free
controls and the untrained network, on the 1000 test images); for the Clever Hans
and shuffled-label models what they learned; for the regressions RMSE and R^2.
"""
import sys
import time

import torch

from helpers import attribution, data, metrics, models
from tools import train_models

NOISE_LEVELS = (0.10, 0.15, 0.20)
UNTRAINED_SEEDS = range(5)


@torch.no_grad()
def noisy_accuracy(model, x, y, level, draws=3):
    """Mean accuracy over `draws` noisy copies x + N(0, level^2) (the input range
    is [0, 1], so `level` is the share of the range, as in SmoothGrad)."""
    accs = []
    for draw in range(draws):
        g = torch.Generator().manual_seed(100 + draw)
        accs.append(models.accuracy(model, x + level * torch.randn(x.shape, generator=g), y))
    return sum(accs) / draws


@torch.no_grad()
def empty_inputs(model, shape, names):
    """Predicted class and its probability on a blank and a mid-grey image, and on
    100 pure-noise images (the share that gets the most common class, and the mean
    top probability)."""
    g = torch.Generator().manual_seed(7)
    out = {}
    for label, x in (("blank", torch.zeros(1, *shape)), ("grey", torch.full((1, *shape), 0.5))):
        p = model(x).softmax(1)[0]
        out[label] = f"{names[p.argmax()]} p={p.max():.2f}"
    p = model(torch.rand(100, *shape, generator=g)).softmax(1)
    top = p.argmax(1).bincount(minlength=len(names))
    out["noise"] = (f"{names[top.argmax()]} on {top.max().item()}/100, "
                    f"mean top p={p.max(1).values.mean():.2f}")
    return out


def classifier_card(name, test, names):
    model = models.load_pretrained(name)
    row = {"clean": models.accuracy(model, test.x, test.y)}
    for level in NOISE_LEVELS:
        row[f"noise {level:.0%}"] = noisy_accuracy(model, test.x, test.y, level)
    print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
    for k, v in empty_inputs(model, test.x.shape[1:], names).items():
        print(f"    {k}: {v}")
    return model


def lag_correlation(maps, lag):
    """Correlation of horizontally neighbouring gradient values `lag` pixels apart,
    pooled over the maps (a period-2 grid shows as high lag-2, low lag-1)."""
    a, b = maps[..., :-lag].flatten(), maps[..., lag:].flatten()
    return torch.corrcoef(torch.stack([a, b]))[0, 1].item()


def ground_truth_table(model, s, arch="synthetic_cnn"):
    """Mask mass and pointing of Input x Gradient (logit of the true class) against
    the model-free controls and the untrained network, on split `s`."""
    rows = {}

    def score(label, m):
        rows[label] = (metrics.mask_mass(m, s.mask).mean().item(),
                       metrics.pointing_game(m, s.mask).float().mean().item())

    score("Input x Gradient", attribution.input_x_gradient(model, s.x, s.y))
    for label, m in metrics.controls(s.x, generator=torch.Generator().manual_seed(0)).items():
        score(label, m)
    for seed in UNTRAINED_SEEDS:
        score(f"untrained seed {seed}", attribution.input_x_gradient(models.untrained(arch, seed), s.x, s.y))
    for label, (mass, point) in rows.items():
        print(f"    {label:22s} mass {mass:.3f}  pointing {point:.3f}")
    return rows


def synthetic_cards():
    names = data.SYNTHETIC_CLASSES
    s = data.load_synthetic("test", masks="all")
    hans = data.load_synthetic("test", variant="hans", masks="all")
    hans_random = data.load_synthetic("test", variant="hans_random", masks="all")

    model = classifier_card("synthetic_cnn", s, names)
    rows = ground_truth_table(model, s)
    best = {k: max(v[i] for label, v in rows.items() if label != "Input x Gradient")
            for i, k in enumerate(("mass", "pointing"))}
    ixg = rows["Input x Gradient"]
    print(f"    margin over the best control: mass {ixg[0] - best['mass']:.3f}, "
          f"pointing {ixg[1] - best['pointing']:.3f}")
    grads = attribution.gradient(model, s.x[:200], s.y[:200])
    print(f"    gradient lag-1 correlation {lag_correlation(grads, 1):.2f}, "
          f"lag-2 {lag_correlation(grads, 2):.2f}")
    distractor = metrics.mask_mass(attribution.input_x_gradient(model, s.x, s.y), s.distractors)
    print(f"    Input x Gradient mass on the distractors {distractor.mean():.3f}")

    model = classifier_card("synthetic_cnn_hans", hans, names)
    for label, split in (("plain (no mark)", s), ("random mark", hans_random)):
        print(f"    accuracy on {label}: {models.accuracy(model, split.x, split.y):.4f}")
    with torch.no_grad():
        follows = (model(hans_random.x).argmax(1) == _mark_codes(hans_random)).float().mean()
    print(f"    on random marks, predicts the mark's class {follows:.4f}")
    for label, m in (("synthetic_cnn_hans", model), ("synthetic_cnn", models.load_pretrained("synthetic_cnn"))):
        ixg = attribution.input_x_gradient(m, hans.x, hans.y)
        print(f"    {label}: IxG mass on the mark {metrics.mask_mass(ixg, hans.mark).mean():.3f}, "
              f"on the glyph {metrics.mask_mass(ixg, hans.mask).mean():.3f}, "
              f"pointing at the mark {metrics.pointing_game(ixg, hans.mark).float().mean():.3f}")
    print(f"    mark area share {hans.mark.flatten(1).float().mean(1).mean():.4f}")

    model = classifier_card("synthetic_cnn_shuffled", s, names)
    x, target = train_models.synthetic_training_set("synthetic_cnn_shuffled")
    shuffled, n = target.argmax(1), len(target)
    train = data.load_synthetic("train", n=n)
    print(f"    accuracy on its {n} training images with their shuffled labels "
          f"{models.accuracy(model, train.x, shuffled):.4f}, with the true labels "
          f"{models.accuracy(model, train.x, train.y):.4f}")


def _mark_codes(split):
    """The class each image's mark encodes (the mark's direction)."""
    codes = torch.full((len(split.y),), -1)
    for label in range(len(data.SYNTHETIC_CLASSES)):
        pattern = torch.from_numpy(data._mark(label))
        codes[(split.mark[:, 0, 1:4, 1:4] == pattern).flatten(1).all(1)] = label
    return codes


def digits_cards():
    test = data.load_digits("test")
    for name in ("digits_mlp", "digits_mlp_nobias", "digits_mlp_deep", "digits_cnn"):
        classifier_card(name, test, data.DIGITS_CLASSES)


def regression_cards():
    for name, load in (("tabular_linear", data.load_tabular), ("diabetes_mlp", data.load_diabetes)):
        if name not in models.PRETRAINED:
            continue
        model, test, train = models.load_pretrained(name), load("test"), load("train")
        with torch.no_grad():
            pred = model(test.x).squeeze(1)
        rmse = (pred - test.y).pow(2).mean().sqrt().item()
        r2 = 1 - (pred - test.y).pow(2).sum().item() / (test.y - test.y.mean()).pow(2).sum().item()
        base = (test.y - train.y.mean()).pow(2).mean().sqrt().item()
        print(f"{name}: test RMSE {rmse:.2f}, R^2 {r2:.3f} (predicting the training mean: RMSE {base:.2f})")


if __name__ == "__main__":
    torch.set_num_threads(2)
    which = sys.argv[1:] or ["synthetic", "digits", "regression"]
    for part in which:
        start = time.perf_counter()
        {"synthetic": synthetic_cards, "digits": digits_cards, "regression": regression_cards}[part]()
        print(f"({part}: {time.perf_counter() - start:.0f} s)")
