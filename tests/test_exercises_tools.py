"""tools/exercises.py and tools/nbgrader_course.py on small notebooks (no kernel, no nbgrader)."""
import contextlib
import io

import nbformat
import pytest

from tools import exercises, nbgrader_course, student_edition

CHECKS = '''from helpers.exercises import check_choice, check_value

check_value("Exercise 1", total, 6)
helper = [1, 2, 3]
for _ in range(1):
    check_value("Exercise 2 (sum)", sum(parts), sum(helper))
check_value("Exercise 2 (length)", len(parts), 3)
check_choice("Exercise 3", pick, "b")
done = True'''

SOLUTION = 'total = 6\nparts = [1, 2, 3]\n\n\ndef unused(x):\n    return x\n\n\npick = "b"'


def toy_notebook(wrong=None):
    nb = nbformat.v4.new_notebook()
    title = nbformat.v4.new_markdown_cell("# 07 · Toy\n\n[![Open In Colab](https://colab.research.google.com/"
                                          "assets/colab-badge.svg)](x) [![B](b)](y)\n\nIntro.")
    solution = nbformat.v4.new_code_cell(SOLUTION, metadata={"tags": ["solution"]})
    if wrong is not None:
        solution.metadata["wrong_answers"] = wrong
    nb.cells = [title, nbformat.v4.new_code_cell("x = 1"), solution, nbformat.v4.new_code_cell(CHECKS),
                nbformat.v4.new_markdown_cell("---")]
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    return nb


def test_checker_groups_end_after_each_check():
    groups = exercises.checker_groups(CHECKS)
    assert [g.labels for g in groups] == [["Exercise 1"], ["Exercise 2 (sum)"], ["Exercise 2 (length)"],
                                          ["Exercise 3"]]
    assert groups[0].source.startswith("from helpers.exercises import")
    assert groups[1].source.startswith("helper = [1, 2, 3]") and "for _ in range(1)" in groups[1].source
    assert groups[-1].source.endswith("done = True"), "trailing statements join the last group"
    assert "\n".join(g.source for g in groups).replace("\n", "") == CHECKS.replace("\n", "")


def test_exercises_and_their_wrong_answers():
    nb = toy_notebook({"Exercise 1": ["total = 5", "total = 7"], "Exercise 2": ["parts = [1, 2]"]})
    (ex,) = exercises.exercises_of(nb)
    assert ex.solution == 2 and ex.checkers == [3]
    assert ex.keys() == ["Exercise 1", "Exercise 2", "Exercise 3"]
    assert ex.labels_for("Exercise 2") == ["Exercise 2 (sum)", "Exercise 2 (length)"]
    assert exercises.shortfalls(nb) == [("Exercise 2", 1), ("Exercise 3", 0)]
    nb.cells[2].metadata["wrong_answers"] = ["total = 5", "pick = 'a'"]  # a list: every check
    assert exercises.shortfalls(nb) == []
    nb.cells[2].metadata["wrong_answers"] = {"Exercise 9": ["x"]}
    assert ("Exercise 9 (a wrong-answer key that no check's label matches)", -1) in exercises.shortfalls(nb)


def test_add_writes_metadata_only(tmp_path):
    path = tmp_path / "07_toy.ipynb"
    nbformat.write(toy_notebook(), path)
    exercises.add(path, "Exercise 3", "pick = 'a'")
    exercises.add(path, "Exercise 3", "pick = 'a'")  # once only
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[2].metadata["wrong_answers"] == {"Exercise 3": ["pick = 'a'"]}
    assert nb.cells[2].source == SOLUTION
    with pytest.raises(SystemExit):
        exercises.add(path, "Exercise 8", "x = 1")


def test_student_edition_drops_the_wrong_answers():
    student = student_edition.student_notebook(toy_notebook({"Exercise 1": ["total = 5"]}))
    assert "wrong_answers" not in student.cells[2].metadata
    assert student.cells[2].source.splitlines()[1:] == ["total = None", "parts = None", "unused = None",
                                                        "pick = None"]


def course():
    return nbgrader_course.course_notebook(toy_notebook({"Exercise 1": ["total = 5"]}), "07_toy")


def test_course_notebook_has_nbgrader_cells():
    nb = course()
    meta = [c.metadata.get("nbgrader") for c in nb.cells]
    solutions = [m for m in meta if m and m["solution"]]
    tests = [m for m in meta if m and m["grade"]]
    assert len(solutions) == 1 and len(tests) == 4
    assert all(m["points"] == 1 and m["locked"] for m in tests)
    ids = [m["grade_id"] for m in meta if m]
    assert len(set(ids)) == len(ids)
    assert "colab-badge" not in nb.cells[0].source and "Intro." in nb.cells[0].source
    assert all("wrong_answers" not in c.metadata for c in nb.cells)
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    head, rest = solution.source.split(nbgrader_course.BEGIN_SOLUTION)
    assert "total = None" in head and rest.strip().endswith(nbgrader_course.END_SOLUTION)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            visible, hidden = cell.source.split(nbgrader_course.BEGIN_HIDDEN)
            assert "check_" not in visible and nbgrader_course.END_HIDDEN in hidden


def released(source):
    """What nbgrader leaves of a cell: no solution region, no hidden tests."""
    for begin, end, stub in [(nbgrader_course.BEGIN_SOLUTION, nbgrader_course.END_SOLUTION,
                              nbgrader_course.CODE_STUB), (nbgrader_course.BEGIN_HIDDEN, nbgrader_course.END_HIDDEN, "")]:
        if begin in source:
            head, rest = source.split(begin)
            source = head + stub + rest.split(end)[1]
    return source


def run_course(nb, answer=None):
    """Run the course notebook's code as the autograder would: {grade_id: passed}."""
    namespace, passed = {}, {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        source = cell.source
        if meta.get("solution") and answer is not None:
            source = released(source).replace(nbgrader_course.CODE_STUB, answer)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source.replace(nbgrader_course.BEGIN_HIDDEN, "").replace(
                    nbgrader_course.END_HIDDEN, ""), "cell", "exec"), namespace)
            ok = True
        except AssertionError:
            ok = False
        if meta.get("grade"):
            passed[meta["grade_id"]] = ok
    return passed


def test_course_tests_pass_on_the_reference_and_fail_on_wrong_or_missing_answers():
    nb = course()
    assert all(run_course(nb).values())
    assert not any(run_course(nb, answer="").values()), "an unanswered notebook scores 0"
    wrong = run_course(nb, answer=SOLUTION + "\ntotal = 5\nparts = [1, 2, 4, 0]")
    assert wrong == {"test-07-exercise-1": False, "test-07-exercise-2-sum": False,
                     "test-07-exercise-2-length": False, "test-07-exercise-3": True}


def test_released_test_cells_show_no_check():
    for cell in course().cells:
        source = released(cell.source)
        assert "check_" not in source and '"b"' not in source and "sum(helper)" not in source
