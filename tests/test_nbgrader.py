"""The nbgrader round trip on a temporary course built by tools/nbgrader_course.py.

Runs the real `nbgrader generate_assignment` and `nbgrader autograde` on two chapters:
the released notebooks hold no solution code and no hidden test; a submission with the
reference answers scores full marks, one left unanswered scores 0, and one with the
chapter's plausible wrong answers (its solution cells' "wrong_answers") scores 0 on
those exercises.

nbgrader is a teacher's tool (pip install -e '.[teacher]'); without it this test is
skipped, except in CI (CI=true), where it fails.
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import book, exercises, nbgrader_course

CHAPTERS_DIR = Path(os.environ.get("BOOK_CHAPTERS_DIR", book.CHAPTERS_DIR)).resolve()
PREFERRED = ["00_preface", "07_smoothgrad"]  # two chapters that run fast
STUDENTS = ("reference", "wrong", "blank")


def chapters_under_test():
    present = [p.stem for p in sorted(CHAPTERS_DIR.glob("[0-9][0-9]_*.ipynb"))
               if any(exercises.is_solution(c) for c in nbformat.read(p, as_version=4).cells)]
    chosen = [s for s in PREFERRED if s in present]
    return chosen + [s for s in present if s not in chosen][:2 - len(chosen)]


def nbgrader_command():
    exe = shutil.which("nbgrader", path=str(Path(sys.executable).parent)) or shutil.which("nbgrader")
    if exe is None or importlib.util.find_spec("nbgrader") is None:
        message = "nbgrader is not installed (python -m pip install -e '.[teacher]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI must run the nbgrader round trip")
        pytest.skip(message)
    return exe


def run_nbgrader(exe, course, *args):
    env = dict(os.environ)
    # nbgrader runs `alembic` from its own bin folder; the grading kernel imports helpers.
    env["PATH"] = f"{Path(exe).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(book.ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    result = subprocess.run([exe, *args, "--force"], cwd=course, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return result


def solution_regions(source_nb):
    """{grade_id: the reference answer} of the solution cells of a course notebook."""
    regions = {}
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            body = cell.source.split(nbgrader_course.BEGIN_SOLUTION)[1].split(nbgrader_course.END_SOLUTION)[0]
            regions[meta["grade_id"]] = body.strip("\n")
    return regions


def wrong_sources(chapter_nb):
    """The chapter's wrong answers, all of them, in the order of its solution cells."""
    return [[src for sources in ex.wrong.values() for src in sources] for ex in exercises.exercises_of(chapter_nb)]


def submission(release_nb, regions, extra=None):
    """The released notebook with the reference answers (plus ``extra`` code after the
    i-th solution) written where nbgrader left "# YOUR CODE HERE"."""
    nb = nbformat.from_dict(release_nb)
    k = 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answer = regions[meta["grade_id"]]
            if extra is not None:
                answer = "\n".join([answer, *extra[k]])
            assert nbgrader_course.CODE_STUB in cell.source
            cell.source = cell.source.replace(nbgrader_course.CODE_STUB, answer)
            k += 1
    return nb


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    exe = nbgrader_command()
    course = tmp_path_factory.mktemp("course")
    stems = chapters_under_test()
    assert len(stems) == 2, "needs two chapters with exercises"
    nbgrader_course.write_course(course, stems, CHAPTERS_DIR)
    wrong = {}
    for stem in stems:
        run_nbgrader(exe, course, "generate_assignment", stem)
        release = nbformat.read(course / "release" / stem / f"{stem}.ipynb", as_version=4)
        regions = solution_regions(nbformat.read(course / "source" / stem / f"{stem}.ipynb", as_version=4))
        wrong[stem] = wrong_sources(nbformat.read(CHAPTERS_DIR / f"{stem}.ipynb", as_version=4))
        for student, nb in [("reference", submission(release, regions)),
                            ("wrong", submission(release, regions, wrong[stem])),
                            ("blank", release)]:
            target = course / "submitted" / student / stem / f"{stem}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, target)
        run_nbgrader(exe, course, "autograde", stem)

    from nbgrader.api import Gradebook
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for stem in stems:
            cells = gb.find_notebook(stem, stem).grade_cells
            for student in STUDENTS:
                scores[stem, student] = {c.name: (gb.find_grade(c.name, stem, stem, student).score, c.max_score)
                                         for c in cells}
    return course, stems, scores, wrong


def test_released_notebooks_hold_no_solution_and_no_hidden_test(graded_course):
    course, stems, _, _ = graded_course
    for stem in stems:
        chapter = nbformat.read(CHAPTERS_DIR / f"{stem}.ipynb", as_version=4)
        release = nbformat.read(course / "release" / stem / f"{stem}.ipynb", as_version=4)
        text = "\n".join(c.source for c in release.cells)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "check_value", "check_function",
                       "check_choice", "colab-badge", "wrong_answers", "correct ✓"):
            assert marker not in text and marker not in str(release.cells[0].metadata), f"{stem}: {marker}"
        assert not any(c.get("outputs") for c in release.cells if c.cell_type == "code"), "outputs released"
        exercise_cells = {i for ex in exercises.exercises_of(chapter) for i in (ex.solution, *ex.checkers)}
        # Lines the chapter also has outside its exercises (e.g. "with torch.no_grad():")
        # give nothing away.
        elsewhere = {line.strip() for i, c in enumerate(chapter.cells) if i not in exercise_cells
                     for line in c.source.splitlines()}
        for ex in exercises.exercises_of(chapter):
            for line in chapter.cells[ex.solution].source.splitlines():
                # every line of a reference answer that says more than `name = None`
                if (len(line.strip()) > 12 and line.strip() not in elsewhere
                        and not re.fullmatch(r"\s*(#.*|return .{0,6}|\w+ = None)", line)):
                    assert line.strip() not in text, f"{stem}: solution line {line.strip()!r} released"
            for i in ex.checkers:
                for line in chapter.cells[i].source.splitlines():
                    if "check_" in line:
                        assert line.strip() not in text, f"{stem}: checker line {line.strip()!r} released"
        tests = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert tests and all(c.metadata["nbgrader"]["points"] >= 1 for c in tests)


def test_reference_answers_score_full_marks(graded_course):
    _, stems, scores, _ = graded_course
    for stem in stems:
        lost = {cell: got for cell, got in scores[stem, "reference"].items() if got[0] != got[1]}
        assert not lost, f"{stem}: the reference answers lose points on {lost}"


def test_unanswered_notebook_scores_zero(graded_course):
    _, stems, scores, _ = graded_course
    for stem in stems:
        assert sum(got for got, _ in scores[stem, "blank"].values()) == 0, scores[stem, "blank"]


def test_plausible_wrong_answers_score_zero(graded_course):
    _, stems, scores, wrong = graded_course
    with_wrong = [stem for stem in stems if any(wrong[stem])]
    for stem in with_wrong:
        kept = {cell: got for cell, got in scores[stem, "wrong"].items() if got[0] > 0}
        assert not kept, f"{stem}: wrong answers still score on {kept}"
    if len(with_wrong) < len(stems):
        pytest.xfail(f"no wrong answers in the metadata of {sorted(set(stems) - set(with_wrong))} yet")
