"""Build an nbgrader course folder from the chapters.

    python tools/nbgrader_course.py OUT_DIR [NN_name ...]

writes OUT_DIR/nbgrader_config.py and one assignment per chapter,
OUT_DIR/source/NN_name/NN_name.ipynb, in which

- each solution cell (tagged ``solution``) becomes an nbgrader solution cell: the
  answer names set to None, then the reference answer between ``### BEGIN SOLUTION``
  and ``### END SOLUTION`` (nbgrader replaces it with "# YOUR CODE HERE");
- each checker cell is split after every check into autograded test cells, one point
  per check: a visible test that the answer names are set, and the chapter's checks,
  run in ``helpers.exercises.graded()`` mode (a wrong answer raises), between
  ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, so that the released
  notebook shows neither the answers nor the code that computes them;
- the title cell loses its Colab/Binder badges (they open the full edition, solutions
  included), and the wrong answers kept in the metadata are dropped.

Then, in OUT_DIR (nbgrader's folder must be on PATH: it runs `alembic`):

    nbgrader generate_assignment NN_name     # release/NN_name/: what students get
    nbgrader autograde NN_name               # grades submitted/<student>/NN_name/
    nbgrader generate_feedback NN_name       # feedback/ for the students

The kernel that grades must import ``helpers`` (install the book with pip, as for a
reader). tests/test_nbgrader.py runs this round trip on two chapters.
"""
from __future__ import annotations

import ast
import re
import sys
import textwrap
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools import book, exercises, student_edition  # noqa: E402

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = "# YOUR CODE HERE"

CONFIG = f'''# nbgrader configuration written by tools/nbgrader_course.py.
c = get_config()  # noqa: F821 - provided by nbgrader
# The solution region is replaced by a comment only: the answer names stay None above
# it, so the released notebook runs top to bottom before it is answered.
c.ClearSolutions.code_stub = {{"python": "{CODE_STUB}"}}
c.Execute.timeout = 300
'''


def _meta(grade_id: str, *, solution=False, grade=False, points=0) -> dict:
    meta = {"grade": grade, "solution": solution, "locked": grade, "task": False,
            "grade_id": grade_id, "schema_version": 3}
    if grade:
        meta["points"] = points
    return meta


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "check"


def answer_names(solution_source: str) -> list[str]:
    """The names the solution cell defines (those the student edition sets to None)."""
    visitor = student_edition._AssignedNames()
    visitor.visit(ast.parse(solution_source))
    return visitor.names


def solution_cell_source(reference: str) -> str:
    placeholder = student_edition.placeholder(reference).split("\n")[1:]
    return "\n".join(["# Your answers: replace each None below with your answer.",
                      *placeholder, BEGIN_SOLUTION, reference.strip("\n"), END_SOLUTION])


def test_cell_source(group: exercises.Group, names: list[str]) -> str:
    labels = [label for label in group.labels if label] or ["these checks"]
    used = {n.id for n in ast.walk(ast.parse(group.source)) if isinstance(n, ast.Name)}
    visible = [f'assert {name} is not None, "{labels[0]}: {name} has no answer yet"'
               for name in names if name in used]
    hidden = "from helpers.exercises import graded as _graded\n\nwith _graded():\n" + \
        textwrap.indent(group.source, "    ", lambda line: True)
    return "\n".join([f"# Graded: {', '.join(labels)}. The tests below are hidden; they run when",
                      "# the notebook is graded.", *visible, BEGIN_HIDDEN, hidden, END_HIDDEN])


def course_notebook(nb, stem: str):
    """The nbgrader source version of one chapter."""
    nb = nbformat.from_dict(nb)
    out, used_ids = [], set()

    def unique(base):
        grade_id, n = base, 1
        while grade_id in used_ids:
            n += 1
            grade_id = f"{base}-{n}"
        used_ids.add(grade_id)
        return grade_id

    names: list[str] = []
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("wrong_answers", None)
        if i == 0 and cell.cell_type == "markdown":
            cell.source = "\n".join(line for line in cell.source.split("\n") if "colab-badge.svg" not in line)
            cell.source = re.sub(r"\n{3,}", "\n\n", cell.source)
        if exercises.is_solution(cell):
            names = answer_names(cell.source)
            cell.source = solution_cell_source(cell.source)
            cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "solution"]
            cell.metadata["nbgrader"] = _meta(unique(f"answers-{stem[:2]}"), solution=True)
            cell.outputs, cell.execution_count = [], None
            out.append(cell)
        elif cell.cell_type == "markdown" and "solution" in cell.metadata.get("tags", []):
            # A model answer in prose is left out: the student's written answer goes in
            # an ordinary cell (not autograded; the model answer stays with the teacher).
            cell.source = "**Your answer:**"
            cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "solution"]
            out.append(cell)
        elif exercises.is_checker(cell):
            for group in exercises.checker_groups(cell.source):
                test = nbformat.v4.new_code_cell(test_cell_source(group, names))
                label = next((lab for lab in group.labels if lab), "check")
                points = max(1, len(group.labels))
                test.metadata["nbgrader"] = _meta(unique(f"test-{stem[:2]}-{_slug(label)}"), grade=True,
                                                  points=points)
                out.append(test)
        else:
            out.append(cell)
    nb.cells = out
    return nb


def write_course(out_dir: Path, stems: list[str] | None = None, chapters_dir: Path | None = None) -> list[Path]:
    chapters_dir = chapters_dir or book.CHAPTERS_DIR
    stems = stems or [p.stem for p in sorted(chapters_dir.glob("[0-9][0-9]_*.ipynb"))]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "nbgrader_config.py").write_text(CONFIG)
    written = []
    for stem in stems:
        nb = nbformat.read(chapters_dir / f"{stem}.ipynb", as_version=4)
        if not any(exercises.is_solution(c) for c in nb.cells):
            continue
        target = out_dir / "source" / stem / f"{stem}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(course_notebook(nb, stem), target)
        written.append(target)
    return written


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in write_course(Path(sys.argv[1]), sys.argv[2:] or None):
        print(f"wrote {path}")
