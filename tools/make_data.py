"""Write the shipped data files in data/ and refresh data/checksums.sha256.

    python tools/make_data.py            # digits.npz (needs scikit-learn) and tabular.csv
    python tools/make_data.py --diabetes-wheel scikit_learn-1.5.2-...whl   # diabetes.csv
    python tools/make_data.py --checksums-only

diabetes.csv is exported from the files scikit-learn bundles in its wheel
(sklearn/datasets/data/diabetes_data_raw.csv.gz and diabetes_target.csv.gz, the raw,
unscaled values); get the wheel with
`pip download --no-deps --only-binary=:all: scikit-learn==1.5.2 -d /tmp/skl`
(scikit-learn is neither imported nor installed for this).

Readers never need this: the files are in the repository. scikit-learn is needed only
here, to export its bundled copy of the UCI digits; the book itself does not use it.
"""
import argparse
import csv
import gzip
import sys
import zipfile
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


def write_diabetes(wheel: str) -> None:
    """data/diabetes.csv from scikit-learn's bundled raw diabetes files: the 10
    baseline variables as published (Efron et al. 2004), the progression one year
    later, and the book's fixed split (88 test rows chosen by a seeded permutation)."""
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read("sklearn/datasets/data/diabetes_data_raw.csv.gz"))
        target = gzip.decompress(z.read("sklearn/datasets/data/diabetes_target.csv.gz"))
    rows = [line.split() for line in raw.decode().splitlines() if line.strip()]
    progression = [float(v) for v in target.decode().split()]
    assert len(rows) == len(progression) == 442 and all(len(r) == 10 for r in rows)
    order = np.random.Generator(np.random.PCG64(0)).permutation(len(rows))
    is_test = np.zeros(len(rows), dtype=bool)
    is_test[order[:data.DIABETES_TEST_ROWS]] = True
    with open(DATA / "diabetes.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([*data.DIABETES_FEATURES, data.DIABETES_TARGET, "split"])
        for row, y, test in zip(rows, progression, is_test):
            w.writerow([*row, f"{y:g}", "test" if test else "train"])


def write_checksums() -> None:
    files = sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix in {".npz", ".csv", ".pt", ".png"})
    lines = [f"{data.sha256(p)}  {p.relative_to(DATA).as_posix()}" for p in files]
    (DATA / "checksums.sha256").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checksums-only", action="store_true")
    parser.add_argument("--diabetes-wheel", help="a scikit-learn wheel: write only diabetes.csv")
    args = parser.parse_args()
    if args.diabetes_wheel:
        write_diabetes(args.diabetes_wheel)
    elif not args.checksums_only:
        write_digits()
        write_tabular()
    write_checksums()
    sys.exit(0)
