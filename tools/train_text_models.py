"""Train chapter 12's two text models from a fixed seed and write data/models/text_*.pt.

    python tools/train_text_models.py                   # both (single-threaded)
    python tools/train_text_models.py text_transformer  # one

Then run `python tools/make_data.py --checksums-only` (or append the two SHA-256 lines
to data/checksums.sha256) and update the report card in data/README.md from what this
script prints.

Time: the bag trains in seconds; the transformer (16 epochs of 42000 reviews) took
about 5 minutes single-threaded on a heavily shared 2-core machine (expect less on an
idle one; more threads do not help with matrices this small).

The training set is the 20000 training reviews (``helpers.text.load_reviews("train")``),
plus a copy of them in which each word is replaced with probability 0.1 by [MASK] or
[UNK] (so those two tokens mean "no word here"; the label is recomputed from the
remaining words), plus 2000 reviews of filler words only. Reviews whose total is 0
(filler only, or every sentiment word masked) get the target 1/2: the model should not
be confident without evidence. Loss: binary cross-entropy on the one logit.
"""
import sys
import time

import numpy as np
import torch
from torch import nn

from helpers import data, text

SETTINGS = {  # name: (epochs, batch size, learning rate, weight decay)
    "text_bag": (4, 256, 2e-2, 0.0),
    "text_transformer": (16, 256, 4e-3, 1e-4),
}


def training_set(seed=0):
    """(tokens, soft targets) of the training set described in the module docstring."""
    reviews = text.load_reviews("train")
    rng = np.random.Generator(np.random.PCG64(seed + 100))
    masked = reviews.tokens.clone()
    words = (masked != text.PAD) & (masked != text.CLS)
    hide = torch.from_numpy(rng.random(masked.shape) < 0.1) & words
    which = torch.from_numpy(rng.random(masked.shape) < 0.5)
    masked[hide] = torch.where(which, text.MASK, text.UNK)[hide]
    neutral = torch.full((2000, text.MAX_LEN), text.PAD, dtype=torch.int64)
    neutral[:, 0] = text.CLS
    fillers = [text.INDEX[w] for w in text.FILLERS]
    for row in neutral:
        length = rng.integers(4, text.MAX_LEN)
        row[1:1 + length] = torch.tensor(rng.choice(fillers, size=length))
    tokens = torch.cat([reviews.tokens, masked, neutral])
    total = text.true_contributions(tokens).sum(1)
    target = torch.where(total > 0, 1.0, torch.where(total < 0, 0.0, 0.5)).float()
    return tokens, target


def train(name, tokens, target):
    epochs, batch, lr, wd = SETTINGS[name]
    torch.manual_seed(0)
    model = text.build(name)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps = epochs * ((len(tokens) + batch - 1) // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    order = torch.Generator().manual_seed(0)
    test = text.make_reviews(500, 1)
    for epoch in range(epochs):
        for idx in torch.randperm(len(tokens), generator=order).split(batch):
            opt.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(model(tokens[idx]), target[idx]).backward()
            opt.step()
            schedule.step()
        print(f"  epoch {epoch + 1}: accuracy on 500 test reviews {text.accuracy(model, test):.3f}",
              flush=True)
    return model.eval()


@torch.no_grad()
def report(name, model):
    """The report card: test accuracy, and the logit on inputs without evidence."""
    test = text.load_reviews("test")
    blank = torch.full((1, text.MAX_LEN), text.PAD)
    blank[0, 0] = text.CLS
    neutral = text.encode(["the movie was the film", "it is a story with music and the acting"])
    masked = torch.where(test.tokens[:200] > text.MASK, text.MASK, test.tokens[:200])
    print(f"{name}: test accuracy {text.accuracy(model, test):.4f}; logit on [CLS]+[PAD]s "
          f"{model(blank).item():+.3f}, on neutral-only reviews "
          f"{', '.join(f'{v:+.3f}' for v in model(neutral).tolist())}, on reviews with every word "
          f"[MASK]ed: mean |logit| {model(masked).abs().mean().item():.3f}")


def main(names):
    torch.set_num_threads(1)  # tiny matrices: more threads only add synchronisation
    tokens, target = training_set()
    for name in names:
        start = time.perf_counter()
        model = train(name, tokens, target)
        print(f"{name}: trained in {time.perf_counter() - start:.0f} s")
        report(name, model)
        torch.save(model.state_dict(), data.DATA_DIR / "models" / f"{name}.pt")


if __name__ == "__main__":
    main(sys.argv[1:] or list(text.PRETRAINED))
