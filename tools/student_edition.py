"""Write the classroom (student) edition of the book.

    python tools/student_edition.py OUT_DIR

Copies every chapter into OUT_DIR/chapters/, with each cell tagged `solution` replaced by
a placeholder that sets every name the solution defined to None ("# YOUR ANSWER HERE").
Everything else is kept, the exercise checkers included: in the student copy they
report "not yet solved" until the student fills in an answer. The solution cells'
outputs and those of the checker cells (which would say "correct") are cleared. Give OUT_DIR to the students (with the rest of the repository, or
install the helpers package for them as on Binder/JupyterHub).
"""
import ast
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


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


def student_notebook(nb):
    """A copy of notebook ``nb`` with its solution cells replaced by placeholders."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            cell.source = placeholder(cell.source)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "solution"] + ["exercise"]
        elif cell.cell_type == "code" and "helpers.exercises" in cell.source:
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


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    for p in write_edition(Path(sys.argv[1])):
        print(f"wrote {p}")
