"""Train the book's pretrained models from a fixed seed and write data/models/*.pt.

    python tools/train_models.py             # all models (about a minute on 2 cores)
    python tools/train_models.py digits_cnn  # one model

Then run `python tools/make_data.py --checksums-only` and update the accuracies in
data/README.md (this script prints them). Training is seeded, so a re-run on the same
machine and PyTorch version reproduces the weights; across machines floating-point
sums may differ in the last bits, which is why the shipped files are pinned by checksum.
"""
import sys

import torch
from torch import nn

from helpers import data, models

SETTINGS = {  # name: (epochs, batch size, learning rate, weight decay)
    "digits_mlp": (60, 64, 1e-3, 1e-4),
    "digits_mlp_nobias": (60, 64, 1e-3, 1e-4),
    "digits_mlp_deep": (80, 64, 1e-3, 1e-4),
    "digits_cnn": (40, 64, 1e-3, 1e-4),
    "synthetic_cnn": (12, 64, 2e-3, 1e-4),
}


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


def main(names: list[str]) -> None:
    torch.set_num_threads(2)
    for name in names:
        source = models.PRETRAINED[name][1]
        if source == "tabular":
            model = train_tabular()
            test = data.load_tabular("test")
            with torch.no_grad():
                rmse = (model(test.x).squeeze(1) - test.y).pow(2).mean().sqrt().item()
            print(f"{name}: test RMSE {rmse:.2f} k EUR")
        else:
            load = data.load_digits if source == "digits" else data.load_synthetic
            model = train_classifier(name, load("train"))
            test = load("test")
            print(f"{name}: test accuracy {models.accuracy(model, test.x, test.y):.4f}")
        torch.save(model.state_dict(), data.DATA_DIR / "models" / f"{name}.pt")


if __name__ == "__main__":
    main(sys.argv[1:] or list(models.PRETRAINED))
