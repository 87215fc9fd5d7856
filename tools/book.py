"""The book's structure: chapter order, badges, the Colab setup cell and prev/next links.

Everything a chapter's first two cells and last cell must contain is built here from
the one repository address in pyproject.toml ([tool.book]). The conventions test
(tests/test_conventions.py) checks every chapter against these functions, and

    python tools/book.py fix [chapters/NN_name.ipynb ...]

rewrites those cells in place (then re-execute with tools/execute.py), and

    python tools/book.py toc

rewrites _toc.yml, the web book's table of contents, the README's table of chapters
and the chapter map of the web book's landing page (index.md), in chapter order,

    python tools/book.py config

rewrites _config.yml, the web book's configuration (launch buttons included), and

    python tools/book.py retarget https://github.com/OWNER/NAME REF

points the whole book at a fork: it sets [tool.book] in pyproject.toml, then does
all of the above (every chapter's badges and Colab cell, _config.yml, the landing
page). Pin REF to a release tag (v1.0), not a branch, so that what a reader opens
does not change under them.

    python tools/book.py time        # minutes per chapter: reading + exercises
    python tools/book.py memory      # each chapter's kernel peak memory (runs them)

print the numbers quoted in the README's "For teachers".
"""
from __future__ import annotations

import contextlib
import re
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
    "08_related_methods": "DeepLIFT, SHAP, Grad-CAM, occlusion, Guided Backprop; exact Shapley values",
    "09_sanity_checks_and_faithfulness": "model and data randomisation, deletion vs ROAD, infidelity",
    "10_ground_truth_and_clever_hans": "ground-truth masks with controls, a Clever Hans caught, the limits",
    "11_real_photographs": "MTCNN on real photographs, offline: faces, landmarks, occlusion, and Captum",
    "12_text_and_transformers": "token attributions against known truth, attention, conservative propagation",
}

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
CLONE_DIR = "executable-book"


@contextlib.contextmanager
def rooted_at(root: Path):
    """Within the block, every function here works on the copy of the book at ``root``
    (its pyproject.toml, chapters/, README.md, index.md) instead of this repository:
    tools/student_edition.py uses it to point a student edition at its own address."""
    global ROOT, CHAPTERS_DIR
    saved = ROOT, CHAPTERS_DIR
    ROOT, CHAPTERS_DIR = Path(root).resolve(), Path(root).resolve() / "chapters"
    try:
        yield
    finally:
        ROOT, CHAPTERS_DIR = saved


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
    BOOK_URL = "{cfg["repository"]}"
    BOOK_REF = "{cfg["ref"]}"
    if not os.path.isdir("{CLONE_DIR}"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", BOOK_REF,
                        BOOK_URL, "{CLONE_DIR}"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "./{CLONE_DIR}"], check=True)
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
    """_toc.yml for Jupyter Book: the reader's landing page (index.md), the chapters in
    order, then the data appendix."""
    lines = ["# Table of contents, in reading order (generated by `python tools/book.py toc`).",
             "format: jb-book", "root: index", "chapters:"]
    lines += [f"- file: chapters/{stem}" for stem in existing_chapters()]
    lines.append("- file: data/README")
    return "\n".join(lines) + "\n"


def readme_table() -> str:
    """The README's table of the chapters present, in order."""
    rows = ["| | chapter | what it shows |", "|---|---|---|"]
    rows += [f"| {stem[:2]} | [{CHAPTERS[stem]}](chapters/{stem}.ipynb) | {SUMMARIES[stem]} |"
             for stem in existing_chapters()]
    return "\n".join(rows)


def _replace_between(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body}\n{end}{tail}"


def readme_source() -> str:
    """README.md with its chapter table (between the chapters markers) brought up to date."""
    return _replace_between((ROOT / "README.md").read_text(), "chapters", readme_table())


# --- The web book ------------------------------------------------------------------

BOOK_TITLE = "Gradient-based attribution: an executable textbook"
BOOK_AUTHOR = "The book's authors"


def landing_links() -> str:
    """The landing page's "how to run it" links, built from [tool.book]."""
    cfg = config()
    first = existing_chapters()[0] if existing_chapters() else "00_preface"
    return "\n".join([
        f"- **In the browser, nothing to install:** [Binder]({binder_url(first)}) (a temporary "
        f"JupyterLab; nothing is saved) or [Colab]({colab_url(first)}) (a Google account). Each "
        "chapter's page has the same launch buttons (the rocket at the top).",
        f"- **On your machine:** `git clone --branch {cfg['ref']} {cfg['repository']}`, then "
        "`python -m pip install -r requirements.txt` and `jupyter lab`; open `chapters/00_preface.ipynb`.",
        f"- **Teaching with it:** see \"For teachers\" in the [repository's README]({cfg['repository']}"
        f"/blob/{cfg['ref']}/README.md#for-teachers) (a course on nbgrader, a student edition, Binder's limits).",
    ])


def landing_source() -> str:
    """index.md with its chapter map and its launch links brought up to date."""
    text = (ROOT / "index.md").read_text()
    text = _replace_between(text, "chapters", readme_table())
    return _replace_between(text, "launch", landing_links())


def config_source() -> str:
    """_config.yml for Jupyter Book 1.x, from [tool.book] (the repository and the ref
    its launch buttons and source links open)."""
    cfg = config()
    title = cfg.get("title", BOOK_TITLE)
    author = cfg.get("author", BOOK_AUTHOR)
    return f"""# Jupyter Book 1.x configuration: the book as a website, built from the stored outputs.
#   jupyter-book build . --warningiserror --keep-going     (output in _build/html)
# Generated by `python tools/book.py config` from pyproject.toml [tool.book]: edit there.
title: "{title}"
author: "{author}"
copyright: "2026"
only_build_toc_files: true
exclude_patterns: [_build, .venv, "**/.ipynb_checkpoints", .pytest_cache, .hypothesis, tests, tools, helpers,
                   benchmarks, binder, artifacts, README.md]

execute:
  execute_notebooks: "off"   # the committed notebooks already hold one clean run's outputs

parse:
  myst_enable_extensions: [dollarmath, amsmath]

repository:
  url: {cfg["repository"]}
  branch: {cfg["ref"]}       # the launch buttons open the chapters at this ref

html:
  use_repository_button: true

launch_buttons:
  notebook_interface: jupyterlab
  binderhub_url: https://mybinder.org
  colab_url: https://colab.research.google.com

sphinx:
  local_extensions:
    book_web: tools   # tools/book_web.py: folds solutions, alt text, explorers' fallback
  config:
    myst_heading_anchors: 3
    html_show_copyright: false
"""


def check_target(repository: str, ref: str) -> None:
    """Stop with a message unless ``repository`` is a GitHub address and ``ref`` a tag
    or branch name."""
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", repository.rstrip("/")):
        raise SystemExit(f"repository must look like https://github.com/OWNER/NAME, got {repository!r}")
    if not re.fullmatch(r"[\w./-]+", ref) or ref.startswith(("-", "/")):
        raise SystemExit(f"ref must be a tag or branch name, got {ref!r}")


def set_target(repository: str, ref: str) -> None:
    """Write a new repository address and ref into pyproject.toml's [tool.book]."""
    check_target(repository, ref)
    path = ROOT / "pyproject.toml"
    text = path.read_text()
    head, sep, rest = text.partition("[tool.book]")
    if not sep:
        raise SystemExit("pyproject.toml has no [tool.book] table")
    body, nxt, tail = rest.partition("\n[")
    body = re.sub(r'(?m)^repository\s*=.*$', f'repository = "{repository.rstrip("/")}"', body)
    body = re.sub(r'(?m)^ref\s*=.*$', f'ref = "{ref}"', body)
    path.write_text(head + sep + body + nxt + tail)


def regenerate() -> None:
    """Every file built from [tool.book] and the chapter list."""
    (ROOT / "_toc.yml").write_text(toc_source())
    (ROOT / "README.md").write_text(readme_source())
    (ROOT / "index.md").write_text(landing_source())
    (ROOT / "_config.yml").write_text(config_source())


# --- Time and memory per chapter ------------------------------------------------

PROSE_WORDS_PER_MINUTE = 120     # dense technical prose with equations, read to understand
CODE_LINES_PER_MINUTE = 10       # reading a code cell, running it, looking at its output
MINUTES_PER_EXERCISE = 10        # an exercise: think, write a few lines, check


def study_time(nb) -> dict:
    """Words, code lines, exercises and the minutes they take at the paces above."""
    from tools import exercises

    words = sum(len(re.sub(r"\$[^$]*\$|<[^>]+>|\(http[^)]*\)", " ", c.source).split())
                for c in nb.cells if c.cell_type == "markdown")
    code = sum(len([line for line in c.source.splitlines() if line.strip() and not line.strip().startswith("#")])
               for c in nb.cells if c.cell_type == "code" and not exercises.is_solution(c)
               and not exercises.is_checker(c))
    count = sum(len(ex.keys()) for ex in exercises.exercises_of(nb))
    minutes = words / PROSE_WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE + count * MINUTES_PER_EXERCISE
    return {"words": words, "code lines": code, "exercises": count, "minutes": minutes}


def peak_memory_mib(path: Path) -> float:
    """The peak resident memory of a fresh kernel that runs the chapter (Linux)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    probe = nbformat.v4.new_code_cell(
        "import resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    nb.cells.append(probe)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return int(probe.outputs[0]["text"]) / 1024  # ru_maxrss is in KiB on Linux


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script: "from tools import ..." needs the root
    args = sys.argv[1:]
    if args == ["time"]:
        print(f"pace: {PROSE_WORDS_PER_MINUTE} words/min, {CODE_LINES_PER_MINUTE} code lines/min, "
              f"{MINUTES_PER_EXERCISE} min/exercise")
        for stem in existing_chapters():
            t = study_time(nbformat.read(CHAPTERS_DIR / f"{stem}.ipynb", as_version=4))
            print(f"{stem:36s} {t['words']:5d} words {t['code lines']:4d} code lines "
                  f"{t['exercises']:2d} exercises  {round(t['minutes'] / 5) * 5:4d} min")
        sys.exit(0)
    if args == ["memory"]:
        for stem in existing_chapters():
            print(f"{stem:36s} {peak_memory_mib(CHAPTERS_DIR / f'{stem}.ipynb'):6.0f} MiB", flush=True)
        sys.exit(0)
    if args in (["toc"], ["config"]):  # the toc, the README's table, the landing page, _config.yml
        regenerate()
        sys.exit(0)
    if len(args) == 3 and args[0] == "retarget":
        set_target(args[1], args[2])
        for p in [CHAPTERS_DIR / f"{s}.ipynb" for s in existing_chapters()]:
            fix(p)
        regenerate()
        print(f"the book now points to {args[1]} at {args[2]}: commit, then push the ref")
        sys.exit(0)
    if not args or args[0] != "fix":
        sys.exit(__doc__)
    paths = [Path(p) for p in args[1:]] or [CHAPTERS_DIR / f"{s}.ipynb" for s in existing_chapters()]
    for p in paths:
        fix(p)
        print(f"fixed {p.name}")
