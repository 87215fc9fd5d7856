"""Write the classroom (student) edition of the book.

    python tools/student_edition.py OUT_DIR --repository URL --ref REF [--book]
    python tools/student_edition.py OUT_DIR [--book]    # the chapters only

Copies every chapter into OUT_DIR/chapters/, with each cell tagged `solution` replaced
by a placeholder that sets every name the solution defined to None ("# YOUR ANSWER
HERE"). Everything else is kept, the exercise checkers included: in the student copy
they report "not yet solved" until the student fills in an answer. The solution cells'
outputs and those of the checker cells (which would say "correct") are cleared. The
wrong answers kept in the solution cells' metadata for the tests are dropped.

With --repository and --ref, OUT_DIR is a complete repository to publish for the
students (e.g. https://github.com/OWNER/NAME, a tag such as v1.0 as REF): what a
reader's install needs (helpers/, data/, pyproject.toml, requirements.txt, binder/,
LICENSE), a README for students, and the chapters, with [tool.book] in the copied
pyproject.toml set to URL and REF and every chapter's Colab and Binder badges and Colab
setup cell rebuilt from it (tools/book.py), so that they open the student edition, not
the full one. Nothing that carries solutions is copied: no tests/, no tools/ (but
tools/book_web.py for --book), no wrong answers. Without --repository only the chapters
are written and their badges still open the full edition (a warning says so).

With --book, OUT_DIR also gets what Jupyter Book needs (configuration, table of
contents, landing page), with the checker cells removed from the pages (on a static
page they only show how the answers are computed):
`jupyter-book build OUT_DIR` then builds a web book without any solution.
For graded work use tools/nbgrader_course.py, whose released notebooks hide the checks too.
"""
import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import book  # noqa: E402
from tools.exercises import is_checker  # noqa: E402

# What a reader's install needs, copied into a student repository (files and folders).
SUPPORT = ["helpers", "data", "pyproject.toml", "requirements.txt", "binder", "LICENSE",
           ".gitignore"]
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info")


class _AssignedNames(ast.NodeVisitor):
    """Names a cell binds at top level (not inside functions, classes or comprehensions)."""

    def __init__(self):
        self.names = []

    def _add(self, name):
        if name not in self.names:
            self.names.append(name)

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self._add(node.id)

    def visit_FunctionDef(self, node):
        self._add(node.name)  # the body is a different scope

    visit_AsyncFunctionDef = visit_ClassDef = visit_FunctionDef

    def visit_Lambda(self, node):
        pass

    def visit_ListComp(self, node):
        pass

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def visit_Import(self, node):
        for alias in node.names:
            self._add((alias.asname or alias.name).split(".")[0])

    visit_ImportFrom = visit_Import


def placeholder(solution_source: str) -> str:
    """The student's version of a solution cell: each answer name set to None."""
    visitor = _AssignedNames()
    visitor.visit(ast.parse(solution_source))
    lines = ["# YOUR ANSWER HERE: replace each None below (the checker cell after this one tests it)."]
    lines += [f"{name} = None" for name in visitor.names]
    return "\n".join(lines)


MODEL_ANSWER_PLACEHOLDER = "**Your answer:** *(write it here; the model answer is in the full edition)*"


def student_notebook(nb):
    """A copy of notebook ``nb`` with its solution cells replaced by placeholders."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        cell.metadata.pop("wrong_answers", None)
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            cell.source = placeholder(cell.source)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"] + ["exercise"]
        elif cell.cell_type == "markdown" and "solution" in cell.metadata.get("tags", []):
            # A model answer in prose: the student writes their own in its place.
            cell.source = MODEL_ANSWER_PLACEHOLDER
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"] + ["exercise"]
        elif cell.cell_type == "code" and ("helpers.exercises" in cell.source or is_checker(cell)):
            cell.outputs = []  # the book's "correct" verdicts would give the answers away
            cell.execution_count = None
    return nb


def write_edition(out_dir: Path, repository: str | None = None,
                  ref: str | None = None) -> list[Path]:
    """Write the student chapters into ``out_dir/chapters``; with ``repository`` and
    ``ref``, make ``out_dir`` a whole student repository that points to that address."""
    out_dir = Path(out_dir)
    if (repository is None) != (ref is None):
        raise SystemExit("give both --repository and --ref, or neither")
    if out_dir.resolve() == ROOT:
        raise SystemExit("OUT_DIR must not be the book's own repository")
    if repository is not None:
        book.check_target(repository, ref)
        copy_support(out_dir)
        with book.rooted_at(out_dir):
            book.set_target(repository, ref)
        pyproject = out_dir / "pyproject.toml"
        pyproject.write_text(without_table(pyproject.read_text(), "tool.pytest.ini_options"))
    target = out_dir / "chapters"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        nb = student_notebook(nbformat.read(path, as_version=4))
        nbformat.write(nb, target / path.name)
        written.append(target / path.name)
    if repository is not None:
        with book.rooted_at(out_dir):
            for path in written:
                book.fix(path)  # badges, Colab cell and links from the copy's [tool.book]
            (out_dir / "README.md").write_text(student_readme())
    return written


def copy_support(out_dir: Path) -> None:
    """Copy what a reader's install needs (SUPPORT) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in SUPPORT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, out_dir / name, ignore=SKIP, dirs_exist_ok=True)
        elif source.exists():
            shutil.copy(source, out_dir / name)


def without_table(toml_text: str, name: str) -> str:
    """``toml_text`` without its table ``[name]`` (the test settings name files of the
    full edition, tests/ among them, that a student repository does not have)."""
    head, sep, rest = toml_text.partition(f"[{name}]")
    if not sep:
        return toml_text
    _, nxt, tail = rest.partition("\n[")
    return head.rstrip("\n") + "\n" + (f"\n[{tail}" if nxt else "")


def student_readme() -> str:
    """README.md of a student repository (call inside ``book.rooted_at`` of the copy)."""
    cfg = book.config()
    first = book.existing_chapters()[0]
    return f"""# {cfg.get("title", book.BOOK_TITLE)} (student edition)

Every chapter of the book, with its exercises and without the model solutions. Write
your answer in the cell under each exercise and run the check below it: it prints "not
yet solved" until you answer, then "correct ✓" or what kind of mistake it is, never the
answer.

## How to run it

- **In the browser, nothing to install:** [Binder]({book.binder_url(first)}) (a
  temporary JupyterLab; nothing is saved: download your notebooks) or
  [Colab]({book.colab_url(first)}) (a Google account). Each chapter has the same two
  badges at the top; on Colab, run its first code cell, which installs the book.
- **On your machine:** `git clone --branch {cfg["ref"]} {cfg["repository"]}`, then
  `python -m pip install -r requirements.txt` and `jupyter lab`; open
  `chapters/{first}.ipynb`.

A chapter runs top to bottom in seconds on a laptop's CPU; no GPU and no download are
needed (the small data sets and trained models are in `data/`).

## Chapters

Read the chapters in order: each one uses the ideas of the ones before it.

{book.readme_table()}
"""


def write_book(out_dir: Path, repository: str | None = None,
               ref: str | None = None) -> list[Path]:
    """The student edition plus the files Jupyter Book needs to build it as a website."""
    out_dir = Path(out_dir)
    written = write_edition(out_dir, repository, ref)
    for path in written:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and ("helpers.exercises" in cell.source or is_checker(cell)):
                cell.metadata.setdefault("tags", []).append("remove-cell")
        nbformat.write(nb, path)
    for name in ("_config.yml", "_toc.yml", "index.md", "data/README.md", "tools/book_web.py"):
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, out_dir / name)
    if repository is not None:
        with book.rooted_at(out_dir):
            (out_dir / "_config.yml").write_text(book.config_source())
            # The landing page's launch links, without the line for teachers.
            landing = book.landing_source().splitlines(keepends=True)
            (out_dir / "index.md").write_text("".join(
                line for line in landing if not line.startswith("- **Teaching with it:**")))
    (out_dir / "index.md").write_text(without_solutions_note(
        (out_dir / "index.md").read_text()))
    return written


FOLDED_NOTE = re.compile(r"On these pages the model solutions and the checks are folded:"
                         r"\s+open them\s+with \"Show the solution\" once you have tried\.")


def without_solutions_note(landing: str) -> str:
    """The landing page with its note on folded solutions replaced: this edition has none."""
    text, count = FOLDED_NOTE.subn("This edition has no model solutions: ask your teacher\n"
                                   "for them once you have tried.", landing)
    if count != 1:
        raise SystemExit("index.md no longer has the note on folded solutions: update "
                         "tools/student_edition.py")
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write the student edition of the book (no solutions).")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--repository", metavar="URL",
                        help="the student repository's address, https://github.com/OWNER/NAME")
    parser.add_argument("--ref", metavar="REF", help="its tag (or branch), e.g. v1.0")
    parser.add_argument("--book", action="store_true",
                        help="also the files Jupyter Book needs to build a web book")
    args = parser.parse_args(argv)
    if (args.repository is None) != (args.ref is None):
        parser.error("give both --repository and --ref, or neither")
    write = write_book if args.book else write_edition
    for p in write(args.out_dir, args.repository, args.ref):
        print(f"wrote {p}")
    if args.repository is None:
        cfg = book.config()
        print(f"warning: the chapters' badges and Colab cell still open the full edition "
              f"({cfg['repository']} at {cfg['ref']}, solutions included); give "
              "--repository URL --ref REF to write a student repository that points to itself")
    else:
        print(f"wrote a student repository in {args.out_dir}: push it to {args.repository} "
              f"and tag it {args.ref}")


if __name__ == "__main__":
    main()
