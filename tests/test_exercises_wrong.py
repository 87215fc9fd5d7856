"""Every exercise rejects its plausible wrong answers and accepts its reference answer.

The wrong answers live next to each exercise, in its solution cell's metadata
(``"wrong_answers"``, see tools/exercises.py and CONTRIBUTING.md). Each chapter is
executed once in a kernel; then, for each wrong answer, the reference solution is run
again (to reset every answer name), the wrong answer after it, and the checks of that
exercise, which must not say "correct".

BOOK_CHAPTERS_DIR=path/to/chapters runs the same tests on other copies of the chapters
(a draft, or a copy with wrong answers being written).
"""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tools import book, exercises

CHAPTERS_DIR = Path(os.environ.get("BOOK_CHAPTERS_DIR", book.CHAPTERS_DIR)).resolve()
CHAPTERS = sorted(CHAPTERS_DIR.glob("[0-9][0-9]_*.ipynb"))
CORRECT = "correct ✓"

# Chapters written before the wrong-answer rule. Remove a chapter from this list when
# its exercises carry their wrong answers (the test then fails until you do).
WITHOUT_WRONG_ANSWERS_YET = set()


def _pending(path):
    if path.stem in WITHOUT_WRONG_ANSWERS_YET and "BOOK_CHAPTERS_DIR" not in os.environ:
        return [pytest.mark.xfail(reason="written before the wrong-answer rule", strict=True)]
    return []


@pytest.mark.parametrize("path", [pytest.param(p, marks=_pending(p), id=p.stem) for p in CHAPTERS])
def test_every_exercise_has_two_wrong_answers(path):
    short = exercises.shortfalls(nbformat.read(path, as_version=4))
    assert not short, "add wrong answers (python tools/exercises.py add ...): " + "; ".join(
        f"{name}: {count}" for name, count in short)


class Kernel:
    """A chapter executed once in a kernel that stays up to run more code."""

    def __init__(self, client, nb):
        self.client, self.nb = client, nb

    def run(self, source):
        """Run ``source``; return what it printed. Raises CellExecutionError on an error."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        self.client.execute_cell(cell, len(self.nb.cells) - 1)
        return "".join(out.get("text", "") for out in cell.outputs if out.output_type == "stream")


def verdicts(printed, labels):
    """{label: the first line the checker printed for it}."""
    found = {}
    for line in printed.splitlines():
        for label in labels:
            if line.startswith(f"{label}: ") and label not in found:
                found[label] = line
    return found


def wrong_answer_problems(kernel, nb, exercise):
    """What goes wrong when each of the exercise's wrong answers is tried (empty: fine)."""
    reference = nb.cells[exercise.solution].source
    groups = [g for i in exercise.checkers for g in exercises.checker_groups(nb.cells[i].source)]
    problems = []
    for key, sources in exercise.wrong.items():
        labels = exercise.labels_for(key)
        if not labels:
            problems.append(f"{key}: no check has this label")
            continue
        checks = "\n".join(g.source for g in groups if set(g.labels) & set(labels))
        for source in sources:
            try:
                kernel.run(reference)
                kernel.run(source)
                printed = kernel.run(checks)
            except CellExecutionError as err:
                problems.append(f"{key}: {source!r} raised {str(err).strip().splitlines()[-1][:200]}")
                continue
            said = verdicts(printed, labels)
            if not said:
                problems.append(f"{key}: {source!r}: the checks printed no verdict")
            elif all(line.endswith(CORRECT) for line in said.values()):
                problems.append(f"{key}: the wrong answer {source!r} is accepted")
    kernel.run(reference)
    return problems


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_reference_answers_pass_and_wrong_answers_fail(path):
    nb = nbformat.read(path, as_version=4)
    found = exercises.exercises_of(nb)
    if not any(ex.wrong for ex in found):
        pytest.skip(f"{path.stem} has no wrong answers yet (see the test above)")
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    problems = []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
        kernel = Kernel(client, nb)
        for ex in found:
            printed = "".join(out.get("text", "") for i in ex.checkers for out in nb.cells[i].outputs
                              if out.output_type == "stream")
            said = verdicts(printed, ex.labels)
            for label in ex.labels:
                if not said.get(label, "").endswith(CORRECT):
                    problems.append(f"the reference answer of {label!r} is not accepted: {said.get(label)!r}")
            problems += wrong_answer_problems(kernel, nb, ex)
    assert not problems, f"{path.stem}:\n" + "\n".join(problems)
