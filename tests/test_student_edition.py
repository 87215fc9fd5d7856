"""The student edition as a repository of its own (tools/student_edition.py OUT
--repository URL --ref REF): self-contained, without solutions, pointing to itself.

The edition is written once per module; the tests read it.
"""
import os
import re
import subprocess
import sys
import tomllib

import nbformat
import pytest
from nbclient import NotebookClient

from tools import book, exercises, student_edition

ROOT = book.ROOT
STUDENT_URL = "https://github.com/example-school/attribution-students"
STUDENT_REF = "v1.0"
FULL = book.config()


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student-repository")
    student_edition.main([str(out), "--repository", STUDENT_URL, "--ref", STUDENT_REF,
                          "--book"])
    return out


def full_chapters():
    return [(stem, nbformat.read(book.CHAPTERS_DIR / f"{stem}.ipynb", as_version=4))
            for stem in book.existing_chapters()]


def solution_lines(nb):
    """The lines of the chapter's solution cells that appear nowhere else in it (blank
    lines, comments, imports and `return x` left out: they give nothing away)."""
    in_solutions = [i for i, c in enumerate(nb.cells)
                    if "solution" in c.metadata.get("tags", [])]
    elsewhere = {line.strip() for i, c in enumerate(nb.cells) if i not in in_solutions
                 for line in c.source.splitlines()}
    lines = set()
    for i in in_solutions:
        for line in nb.cells[i].source.splitlines():
            line = line.strip()
            if len(line) > 12 and line not in elsewhere and not line.startswith(
                    ("#", "import ", "from ")) and not re.fullmatch(r"return \w+|\)+", line):
                lines.add(line)
    return lines


def test_the_edition_is_a_repository_to_host(edition):
    for name in ["README.md", "LICENSE", "pyproject.toml", "requirements.txt",
                 "binder/requirements.txt", "helpers/__init__.py", "helpers/exercises.py",
                 "data/README.md", "data/models/text_transformer.pt"]:
        assert (edition / name).is_file(), f"{name} is missing"
    assert sorted(p.stem for p in (edition / "chapters").glob("*.ipynb")) == \
        book.existing_chapters()
    # Nothing that carries solutions or their wrong answers: no tests, and of the tools
    # only the web book's Sphinx extension.
    assert not (edition / "tests").exists()
    assert [p.name for p in (edition / "tools").iterdir()] == ["book_web.py"]
    assert not list(edition.rglob("wrong_answers*"))
    assert not list(edition.rglob("__pycache__"))


def test_no_solution_code_and_no_wrong_answers(edition):
    for stem, nb in full_chapters():
        text = (edition / "chapters" / f"{stem}.ipynb").read_text()
        student = nbformat.reads(text, as_version=4)
        source = {line.strip() for c in student.cells for line in c.source.splitlines()}
        hidden = solution_lines(nb)
        assert hidden or not exercises.exercises_of(nb), f"{stem}: no solution found"
        for line in hidden:
            assert line not in source, f"{stem}: {line!r} is in the student edition"
        assert "wrong_answers" not in text and "correct ✓" not in text
        assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)


def test_badges_and_colab_cell_open_the_student_repository(edition):
    slug = STUDENT_URL.removeprefix("https://github.com/")
    for stem in book.existing_chapters():
        nb = nbformat.read(edition / "chapters" / f"{stem}.ipynb", as_version=4)
        title, setup = nb.cells[0].source, nb.cells[1].source
        assert (f"https://colab.research.google.com/github/{slug}/blob/{STUDENT_REF}"
                f"/chapters/{stem}.ipynb") in title
        assert (f"https://mybinder.org/v2/gh/{slug}/{STUDENT_REF}"
                f"?labpath=chapters%2F{stem}.ipynb") in title
        assert f'BOOK_URL = "{STUDENT_URL}"' in setup
        assert f'BOOK_REF = "{STUDENT_REF}"' in setup
        with book.rooted_at(edition):
            assert title.startswith(book.title_cell_source(stem))
            assert setup == book.setup_cell_source()
    # The full edition's address is nowhere in what the students get.
    for path in [*edition.glob("chapters/*.ipynb"), edition / "README.md",
                 edition / "pyproject.toml", edition / "_config.yml", edition / "index.md"]:
        assert FULL["repository"] not in path.read_text(), f"{path.name} names the full edition"


def test_pyproject_and_web_book_name_the_student_repository(edition):
    with open(edition / "pyproject.toml", "rb") as f:
        settings = tomllib.load(f)
    assert settings["tool"]["book"] == {"repository": STUDENT_URL, "ref": STUDENT_REF}
    assert "pytest" not in settings["tool"]  # its settings name files the edition lacks
    with open(ROOT / "pyproject.toml", "rb") as f:
        full = tomllib.load(f)
    assert settings["project"] == full["project"]
    config = (edition / "_config.yml").read_text()
    assert f"url: {STUDENT_URL}\n" in config and f"branch: {STUDENT_REF} " in config
    readme = (edition / "README.md").read_text()
    assert "## Chapters" in readme  # the chapters' "Contents" links go to #chapters
    assert f"git clone --branch {STUDENT_REF} {STUDENT_URL}" in readme
    assert "For teachers" not in readme and "nbgrader" not in readme
    landing = (edition / "index.md").read_text()
    assert "folded" not in landing and "no model solutions" in landing


def test_the_edition_runs_from_its_own_helpers_and_data(edition, monkeypatch):
    """A student chapter runs with the copied helpers and data only."""
    monkeypatch.setenv("PYTHONPATH", str(edition))
    monkeypatch.delenv("ATTRIBUTION_BOOK_DATA", raising=False)
    path = edition / "chapters" / "00_preface.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import helpers, helpers.data\nprint(helpers.__file__)\nprint(helpers.data.DATA_DIR)"))
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    where = nb.cells[-1].outputs[0]["text"].splitlines()
    assert where == [str(edition / "helpers" / "__init__.py"), str(edition / "data")]
    printed = "".join(out.get("text", "") for c in nb.cells for out in c.get("outputs", []))
    assert "not yet solved" in printed and "correct ✓" not in printed


def test_without_a_repository_it_warns_that_badges_open_the_full_edition(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "student_edition.py"),
                             str(tmp_path)], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and FULL["repository"] in warning[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chapters"]  # as before


@pytest.mark.parametrize("args", [["--repository", STUDENT_URL],
                                  ["--repository", "github.com/x", "--ref", "v1"],
                                  ["--repository", STUDENT_URL, "--ref", "-x"]])
def test_bad_arguments_stop_before_writing(tmp_path, args):
    out = tmp_path / "out"
    with pytest.raises(SystemExit):
        student_edition.main([str(out), *args])
    assert not out.exists()


def test_the_book_is_not_its_own_student_edition():
    with pytest.raises(SystemExit):
        student_edition.write_edition(ROOT, STUDENT_URL, STUDENT_REF)
    with book.rooted_at(ROOT / "nowhere"):
        assert book.ROOT == (ROOT / "nowhere").resolve()
    assert book.ROOT == ROOT and book.config() == FULL  # restored after the block
