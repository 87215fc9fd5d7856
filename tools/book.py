"""The book's structure: chapter order, badges, the Colab setup cell and prev/next links.

Everything a chapter's first two cells and last cell must contain is built here from
the one repository address in pyproject.toml ([tool.book]). The conventions test
(tests/test_conventions.py) checks every chapter against these functions, and

    python tools/book.py fix [chapters/NN_name.ipynb ...]

rewrites those cells in place (then re-execute with tools/execute.py), and

    python tools/book.py toc

rewrites _toc.yml, the web book's table of contents, and the README's table of
chapters, in chapter order.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS_DIR = ROOT / "chapters"

# The planned chapters, in reading order (file stem -> title). Links are made only
# to chapters whose notebook exists.
CHAPTERS = {
    "00_preface": "Preface",
    "01_derivatives_and_gradients": "Derivatives and gradients",
    "02_saliency": "Saliency: the gradient as attribution",
    "03_input_x_gradient": "Input × Gradient",
    "04_taylor_expansion": "The Taylor-expansion view",
    "05_completeness_and_sensitivity": "Completeness and sensitivity",
    "06_relu_saturation": "ReLU saturation",
    "07_smoothgrad": "SmoothGrad",
    "08_related_methods": "Related methods",
    "09_sanity_checks_and_faithfulness": "Sanity checks and faithfulness",
    "10_ground_truth_and_clever_hans": "Ground truth and a Clever Hans",
    "11_real_photographs": "A real network on real photographs",
    "12_text_and_transformers": "Text and transformers",
}

# One line per chapter for the README's table of chapters.
SUMMARIES = {
    "00_preface": "who the book is for, how to run it, notation, the data and the models",
    "01_derivatives_and_gradients": "finite differences vs autograd, gradient fields, one backward pass for a batch",
    "02_saliency": "the gradient as sensitivity, its blind spot at zero, how to display a map",
    "03_input_x_gradient": "presence × relevance: exact contributions for linear models, maps, cost",
    "04_taylor_expansion": "first-order Taylor terms, Euler's theorem, ε-LRP and DeepLIFT as Input × Gradient",
    "05_completeness_and_sensitivity": "the axioms, Integrated Gradients, quadrature rules, baselines, Shapley",
    "06_relu_saturation": "dead units, saturation along the path, softmax saturation, shattered gradients",
    "07_smoothgrad": "averaging over noise: σ, sample counts, SmoothGrad², VarGrad, an explorer",
    "08_related_methods": "DeepLIFT, GradientSHAP, Grad-CAM and the rest side by side, exact Shapley values",
    "09_sanity_checks_and_faithfulness": "randomisation sanity checks, Guided Backprop, deletion/insertion, ROAD, infidelity",
    "10_ground_truth_and_clever_hans": "ground-truth masks with controls, a Clever Hans caught, the limits",
    "11_real_photographs": "MTCNN on real photographs, offline: faces, landmarks, occlusion, and Captum",
    "12_text_and_transformers": "token attributions against known truth, attention, conservative propagation",
}

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
CLONE_DIR = "executable-book"


def config() -> dict:
    """``{"repository": ..., "ref": ...}`` from pyproject.toml's [tool.book]."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["book"]


def github_slug() -> str:
    """``owner/name`` of the repository address."""
    return config()["repository"].removeprefix("https://github.com/").strip("/")


def colab_url(stem: str) -> str:
    cfg = config()
    return f"https://colab.research.google.com/github/{github_slug()}/blob/{cfg['ref']}/chapters/{stem}.ipynb"


def binder_url(stem: str) -> str:
    cfg = config()
    return f"https://mybinder.org/v2/gh/{github_slug()}/{cfg['ref']}?labpath={quote(f'chapters/{stem}.ipynb', safe='')}"


def existing_chapters() -> list[str]:
    """Stems of the chapters present, in reading order."""
    return [stem for stem in CHAPTERS if (CHAPTERS_DIR / f"{stem}.ipynb").exists()]


def heading(stem: str) -> str:
    return f"{stem[:2]} · {CHAPTERS[stem]}"


def badges(stem: str) -> str:
    return (f"[![Open In Colab]({COLAB_BADGE})]({colab_url(stem)}) "
            f"[![Launch Binder]({BINDER_BADGE})]({binder_url(stem)})")


def title_cell_source(stem: str, intro: str = "") -> str:
    """The first cell: the chapter's title, its two badges, then an optional intro."""
    text = f"# {heading(stem)}\n\n{badges(stem)}"
    return f"{text}\n\n{intro.strip()}" if intro.strip() else text


def setup_cell_source() -> str:
    """The second cell of every chapter: a no-op except on Colab, where it clones the
    book at the pinned ref, installs its helpers and points them at the data."""
    cfg = config()
    return f'''# Setup. On Colab: fetch the book at a pinned ref and install its helpers.
# Anywhere else (your machine, Binder) the book is already installed: nothing happens.
import sys

if "google.colab" in sys.modules:
    import importlib, os, subprocess
    BOOK_URL, BOOK_REF = "{cfg["repository"]}", "{cfg["ref"]}"
    if not os.path.isdir("{CLONE_DIR}"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", BOOK_REF, BOOK_URL, "{CLONE_DIR}"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "./{CLONE_DIR}"], check=True)
    os.environ["ATTRIBUTION_BOOK_DATA"] = os.path.abspath("{CLONE_DIR}/data")
    importlib.invalidate_caches()'''


def nav_cell_source(stem: str) -> str:
    """The last cell: links to the previous and next chapters that exist."""
    present = existing_chapters()
    if stem not in present:
        present = sorted(present + [stem], key=list(CHAPTERS).index)
    i = present.index(stem)
    parts = []
    if i > 0:
        parts.append(f"[← {heading(present[i - 1])}]({present[i - 1]}.ipynb)")
    parts.append("[Contents](../README.md#chapters)")
    if i + 1 < len(present):
        parts.append(f"[{heading(present[i + 1])} →]({present[i + 1]}.ipynb)")
    return "---\n\n" + " · ".join(parts)


def fix(path: Path) -> None:
    """Rewrite the title badges, the setup cell and the navigation cell of one chapter."""
    stem = path.stem
    nb = nbformat.read(path, as_version=4)
    cells = nb.cells
    first = cells[0].source.split("\n")
    intro = "\n".join(line for line in first[1:] if "colab-badge.svg" not in line)
    cells[0].source = title_cell_source(stem, intro)
    if len(cells) > 1 and cells[1].cell_type == "code" and cells[1].source.startswith("# Setup."):
        cells[1].source = setup_cell_source()
    else:
        cells.insert(1, nbformat.v4.new_code_cell(setup_cell_source()))
    nav = nav_cell_source(stem)
    if cells[-1].cell_type == "markdown" and cells[-1].source.startswith("---"):
        cells[-1].source = nav
    else:
        cells.append(nbformat.v4.new_markdown_cell(nav))
    nbformat.write(nb, path)


def toc_source() -> str:
    """_toc.yml for Jupyter Book: the README as the front page, the chapters in order,
    then the data appendix."""
    lines = ["# Table of contents, in reading order (generated by `python tools/book.py toc`).",
             "format: jb-book", "root: README", "chapters:"]
    lines += [f"- file: chapters/{stem}" for stem in existing_chapters()]
    lines.append("- file: data/README")
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    """The README's table of the chapters present, in order."""
    rows = ["| | chapter | what it shows |", "|---|---|---|"]
    rows += [f"| {stem[:2]} | [{CHAPTERS[stem]}](chapters/{stem}.ipynb) | {SUMMARIES[stem]} |"
             for stem in existing_chapters()]
    return "\n".join(rows)


def readme_source() -> str:
    """README.md with its chapter table (between the chapters markers) brought up to date."""
    text = (ROOT / "README.md").read_text()
    start, end = "<!-- chapters: start -->", "<!-- chapters: end -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{readme_table()}\n{end}{tail}"


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["toc"]:  # also the README's table: both list the chapters present
        (ROOT / "_toc.yml").write_text(toc_source())
        (ROOT / "README.md").write_text(readme_source())
        sys.exit(0)
    if not args or args[0] != "fix":
        sys.exit(__doc__)
    paths = [Path(p) for p in args[1:]] or [CHAPTERS_DIR / f"{s}.ipynb" for s in existing_chapters()]
    for p in paths:
        fix(p)
        print(f"fixed {p.name}")
