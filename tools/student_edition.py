"""Write the classroom (student) edition of the book.

    python tools/student_edition.py OUT_DIR            # the notebooks, for students
    python tools/student_edition.py OUT_DIR --book     # also a web book without solutions

Copies every chapter into OUT_DIR/chapters/, with each cell tagged `solution` replaced by
a placeholder that sets every name the solution defined to None ("# YOUR ANSWER HERE").
Everything else is kept, the exercise checkers included: in the student copy they
report "not yet solved" until the student fills in an answer. The solution cells'
outputs and those of the checker cells (which would say "correct") are cleared. Give OUT_DIR to the students (with the rest of the repository, or
install the helpers package for them as on Binder/JupyterHub). The wrong answers kept in
the solution cells' metadata for the tests are dropped.

With --book, OUT_DIR also gets what Jupyter Book needs (configuration, table of
contents, landing page), with the checker cells removed from the pages (on a static
page they only show how the answers are computed):
`jupyter-book build OUT_DIR` then builds a web book without any solution.
For graded work use tools/nbgrader_course.py, whose released notebooks hide the checks too.
"""
import ast
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools.exercises import is_checker  # noqa: E402


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


def write_edition(out_dir: Path) -> list[Path]:
    target = out_dir / "chapters"
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        nb = student_notebook(nbformat.read(path, as_version=4))
        nbformat.write(nb, target / path.name)
        written.append(target / path.name)
    return written


def write_book(out_dir: Path) -> list[Path]:
    """The student edition plus the files Jupyter Book needs to build it as a website."""
    written = write_edition(out_dir)
    for path in written:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and ("helpers.exercises" in cell.source or is_checker(cell)):
                cell.metadata.setdefault("tags", []).append("remove-cell")
        nbformat.write(nb, path)
    for name in ("_config.yml", "_toc.yml", "index.md", "data/README.md", "tools/book_web.py"):
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, out_dir / name)
    return written


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and sys.argv[2] != "--book"):
        sys.exit(__doc__)
    write = write_book if sys.argv[2:] == ["--book"] else write_edition
    for p in write(Path(sys.argv[1])):
        print(f"wrote {p}")
