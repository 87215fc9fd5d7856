"""Write the shipped data files in data/ and refresh data/checksums.sha256.

    python tools/make_data.py            # digits.npz (needs scikit-learn) and tabular.csv
    python tools/make_data.py --checksums-only

Readers never need this: the files are in the repository. scikit-learn is needed only
here, to export its bundled copy of the UCI digits; the book itself does not use it.
"""
import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from helpers import data

DATA = data.DATA_DIR


def write_digits() -> None:
    from sklearn.datasets import load_digits  # author-side only

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # ink counts 0..16
    labels = bunch.target.astype(np.uint8)
    order = np.random.Generator(np.random.PCG64(0)).permutation(len(labels))
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[order[:400]] = True
    np.savez_compressed(DATA / "digits.npz", images=images, labels=labels, is_test=is_test)


def write_tabular() -> None:
    x, y = data.make_tabular(1000, seed=0)
    with open(DATA / "tabular.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([*data.TABULAR_FEATURES, data.TABULAR_TARGET, "split"])
        for i, (row, price) in enumerate(zip(x, y)):
            w.writerow([*(f"{v:g}" for v in row), f"{price:g}", "test" if i >= 800 else "train"])


def write_checksums() -> None:
    files = sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix in {".npz", ".csv", ".pt"})
    lines = [f"{data.sha256(p)}  {p.relative_to(DATA).as_posix()}" for p in files]
    (DATA / "checksums.sha256").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checksums-only", action="store_true")
    args = parser.parse_args()
    if not args.checksums_only:
        write_digits()
        write_tabular()
    write_checksums()
    sys.exit(0)
