"""Train the book's pretrained models from a fixed seed and write data/models/*.pt.

    python tools/train_models.py                 # all models (minutes on 2 cores)
    python tools/train_models.py synthetic_cnn   # one model

Then run `python tools/make_data.py --checksums-only` and update the report card in
data/README.md (`python tools/report_card.py` measures it). Training is seeded, so a
re-run on the same machine and PyTorch version reproduces the weights; across machines
floating-point sums may differ in the last bits, which is why the shipped files are
pinned by checksum.
"""
import math
import sys
import time

import torch
from torch import nn

from helpers import data, models

SETTINGS = {  # name: (epochs, batch size, learning rate, weight decay)
    "digits_mlp": (60, 64, 1e-3, 1e-4),
    "digits_mlp_nobias": (60, 64, 1e-3, 1e-4),
    "digits_mlp_deep": (80, 64, 1e-3, 1e-4),
    "digits_cnn": (40, 64, 1e-3, 1e-4),
}

# The synthetic CNNs: optimiser steps, batch size, peak learning rate, the largest
# noise level of the augmentation (a share of the input range [0, 1]), and how many
# training images (None: the whole split).
# synthetic_cnn_hans trains without noise: a 3-pixel mark drowns in noise of 30 % of
# the range, so with synthetic_cnn's augmentation the model has to learn the glyphs
# anyway (measured: 0.996 on the plain test split, no Clever Hans). The shuffled-label
# model memorises 250 images (no noise, no blanks: pure memorisation).
SYNTHETIC = {
    "synthetic_cnn": dict(steps=1000, batch=64, lr=3e-3, max_noise=0.3, images=None),
    "synthetic_cnn_hans": dict(steps=300, batch=64, lr=3e-3, max_noise=0.0, images=None),
    "synthetic_cnn_shuffled": dict(steps=400, batch=64, lr=3e-3, max_noise=0.0, images=250),
}
HANS_RELABELLED = 0.5    # share of hans training images whose label ignores the glyph
NO_CLASS_IMAGES = 2000   # background and distractors only, trained towards uniform
NO_CLASS_SEED = 2
BLANKS_PER_BATCH = 8     # constant images plus Gaussian noise, trained towards uniform


def train_classifier(name: str, train: data.Split) -> nn.Module:
    epochs, batch, lr, wd = SETTINGS[name]
    torch.manual_seed(0)
    model = models.build(name)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    order = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(train.y), generator=order).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(train.x[idx]), train.y[idx]).backward()
            opt.step()
    return model.eval()


def synthetic_training_set(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and soft targets (N, 4) for a synthetic CNN.

    synthetic_cnn: the training split plus NO_CLASS_IMAGES images without the upright
    glyph, whose target is uniform (1/4 each): the model learns that distractors and
    background carry no class. synthetic_cnn_hans: the same with the Clever Hans mark
    of each image's label; half of the labels (HANS_RELABELLED) are redrawn at random
    first, so in training the mark always gives the label away and the glyph only half
    of the time. synthetic_cnn_shuffled: the first `images`
    training images with their labels permuted by a seeded permutation (Adebayo et al.
    2018's data randomisation test), nothing else.
    """
    classes = len(data.SYNTHETIC_CLASSES)
    if name == "synthetic_cnn_shuffled":
        train = data.load_synthetic("train", n=SYNTHETIC[name]["images"])
        shuffled = train.y[torch.randperm(len(train.y), generator=torch.Generator().manual_seed(0))]
        return train.x, nn.functional.one_hot(shuffled, classes).float()
    train = data.load_synthetic("train")
    x, labels = train.x, train.y
    if name == "synthetic_cnn_hans":
        # The mark always tells the label; the glyph only for half of the images (the
        # other half get a random label, with its mark): the mark is the better cue.
        stream = torch.Generator().manual_seed(1)
        relabel = torch.rand(len(labels), generator=stream) < HANS_RELABELLED
        labels = torch.where(relabel, torch.randint(0, classes, labels.shape, generator=stream), labels)
        x, _ = data.add_mark(x, labels)
    empty = data.make_synthetic(NO_CLASS_IMAGES, NO_CLASS_SEED, class_glyph=False)
    x = torch.cat([x, empty.x])
    target = torch.cat([nn.functional.one_hot(labels, classes).float(),
                        torch.full((NO_CLASS_IMAGES, classes), 1.0 / classes)])
    return x, target


def _augment(x, target, max_noise, blanks, generator):
    """Add `blanks` constant-plus-noise images (uniform targets), then Gaussian noise
    of a random level in [0, max_noise] to 80 % of the batch (not clipped, as
    SmoothGrad does)."""
    classes = target.shape[1]
    if blanks:
        level = torch.rand(blanks, 1, 1, 1, generator=generator)
        spread = 0.3 * torch.rand(blanks, 1, 1, 1, generator=generator)
        blank = level + spread * torch.randn(blanks, *x.shape[1:], generator=generator)
        x = torch.cat([x, blank])
        target = torch.cat([target, torch.full((blanks, classes), 1.0 / classes)])
    if max_noise > 0:
        sigma = max_noise * torch.rand(len(x), 1, 1, 1, generator=generator)
        sigma[torch.rand(len(x), generator=generator) < 0.2] = 0.0
        x = x + sigma * torch.randn(x.shape, generator=generator)
    return x, target


def train_synthetic(name: str) -> nn.Module:
    """Train synthetic_cnn_batchnorm with soft-target cross-entropy, Adam and a cosine
    learning-rate decay, re-estimate the batch-norm statistics on augmented batches,
    and fold them into the convolutions (the shipped model is plain synthetic_cnn)."""
    cfg = SYNTHETIC[name]
    x, target = synthetic_training_set(name)
    torch.manual_seed(0)
    net = models.synthetic_cnn_batchnorm()
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    decay = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step / cfg["steps"], 1.0))))
    stream = torch.Generator().manual_seed(0)
    blanks = 0 if name == "synthetic_cnn_shuffled" else BLANKS_PER_BATCH
    step = 0
    net.train()
    while step < cfg["steps"]:
        for idx in torch.randperm(len(x), generator=stream).split(cfg["batch"]):
            xb, tb = _augment(x[idx], target[idx], cfg["max_noise"], blanks, stream)
            loss = -(tb * net(xb).log_softmax(1)).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            decay.step()
            step += 1
            if step % 250 == 0:
                print(f"  {name}: step {step}, loss {loss.item():.3f}", flush=True)
            if step == cfg["steps"]:
                break
    # Final statistics: the plain average over 40 augmented batches.
    for m in net:
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for idx in torch.randperm(len(x), generator=stream)[:40 * cfg["batch"]].split(cfg["batch"]):
            net(_augment(x[idx], target[idx], cfg["max_noise"], blanks, stream)[0])
    return models.fold_batchnorm(net.eval())


def train_tabular() -> nn.Module:
    """Least squares in closed form: the exact linear regression."""
    train = data.load_tabular("train")
    design = torch.cat([train.x.double(), torch.ones(len(train.y), 1, dtype=torch.float64)], 1)
    coef = torch.linalg.lstsq(design, train.y.double().unsqueeze(1)).solution.squeeze(1)
    model = models.build("tabular_linear")
    with torch.no_grad():
        model[0].weight.copy_(coef[:-1].float().unsqueeze(0))
        model[0].bias.copy_(coef[-1:].float())
    return model.eval()


DIABETES = dict(epochs=1500, lr=1e-2, penalty=3e-2)


def train_diabetes() -> nn.Module:
    """diabetes_mlp: full-batch Adam on the mean squared error of the standardised
    progression (training mean and standard deviation) plus penalty * (sum of squared
    weights), run to convergence (442 patients overfit a free MLP badly: without the
    penalty the test R^2 falls below 0 while the training R^2 passes 0.95). The
    target's scaling is then folded into the last layer, so the shipped model
    predicts the progression in its original units."""
    train = data.load_diabetes("train")
    mean, std = train.y.mean(), train.y.std(unbiased=False)
    target = (train.y - mean) / std
    torch.manual_seed(0)
    model = models.build("diabetes_mlp")
    opt = torch.optim.Adam(model.parameters(), lr=DIABETES["lr"])
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    for _ in range(DIABETES["epochs"]):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(train.x).squeeze(1), target)
        (loss + DIABETES["penalty"] * sum(w.pow(2).sum() for w in weights)).backward()
        opt.step()
    with torch.no_grad():
        model[-1].weight.mul_(std)
        model[-1].bias.mul_(std).add_(mean)
    return model.eval()


def regression_result(model, load) -> str:
    test, train = load("test"), load("train")
    with torch.no_grad():
        error = model(test.x).squeeze(1) - test.y
    rmse = error.pow(2).mean().sqrt().item()
    r2 = 1 - error.pow(2).sum().item() / (test.y - test.y.mean()).pow(2).sum().item()
    return f"test RMSE {rmse:.2f}, R^2 {r2:.3f}"


def main(names: list[str]) -> None:
    torch.set_num_threads(2)
    for name in names:
        start = time.perf_counter()
        source = models.PRETRAINED[name][1]
        if source == "tabular":
            model = train_tabular()
            result = regression_result(model, data.load_tabular) + " (k EUR)"
        elif source == "diabetes":
            model = train_diabetes()
            result = regression_result(model, data.load_diabetes)
        elif source.startswith("synthetic"):
            model = train_synthetic(name)
            test = data.load_synthetic("test")
            hans = data.load_synthetic("test", variant="hans")
            result = (f"test accuracy {models.accuracy(model, test.x, test.y):.4f} (plain), "
                      f"{models.accuracy(model, hans.x, hans.y):.4f} (hans)")
        else:
            model = train_classifier(name, data.load_digits("train"))
            test = data.load_digits("test")
            result = f"test accuracy {models.accuracy(model, test.x, test.y):.4f}"
        torch.save(model.state_dict(), data.DATA_DIR / "models" / f"{name}.pt")
        print(f"{name}: {result}; trained in {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    # With no names: every model of the book, chapter 12's text models included
    # (tools/train_text_models.py trains those; one thread suits their small matrices).
    import train_text_models  # tools/ is on sys.path when this file is run

    requested = sys.argv[1:]
    text_names = [n for n in requested if n in train_text_models.text.PRETRAINED]
    other_names = [n for n in requested if n not in text_names]
    if not requested:
        other_names, text_names = list(models.PRETRAINED), list(train_text_models.text.PRETRAINED)
    main(other_names)
    if text_names:
        train_text_models.main(text_names)
