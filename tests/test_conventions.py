"""Every chapter follows the book's conventions (DEVELOPERS.md, shared OUTLINE.md).

Static checks on the committed notebooks; nbval (run by the same test command)
re-executes them and compares their outputs.
"""
import re
from pathlib import Path

import nbformat
import pytest

from tools import book

CHAPTERS = sorted(book.CHAPTERS_DIR.glob("[0-9][0-9]_*.ipynb"))
SECTIONS = ["What you will learn", "Summary", "Exercises", "References"]
MACHINE_PATH = re.compile(r"(/root/|/home/|/Users/|/tmp/|/work/|site-packages|[A-Z]:\\\\)")


def load(path):
    return nbformat.read(path, as_version=4)


def test_chapters_are_the_planned_ones_in_order():
    stems = [p.stem for p in CHAPTERS]
    assert stems, "no chapters found"
    assert all(s in book.CHAPTERS for s in stems), f"unplanned chapter file among {stems}"
    assert stems == book.existing_chapters()


@pytest.fixture(params=CHAPTERS, ids=[p.stem for p in CHAPTERS])
def chapter(request):
    return request.param, load(request.param)


def test_title_cell_has_badges_for_this_chapter(chapter):
    path, nb = chapter
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith(f"# {book.heading(path.stem)}\n"), "first line must be the chapter's title"
    assert book.badges(path.stem) in first.source, "Colab/Binder badges must point to this chapter at the pinned ref"


def test_second_cell_is_the_guarded_setup(chapter):
    _, nb = chapter
    assert nb.cells[1].cell_type == "code"
    assert nb.cells[1].source == book.setup_cell_source()
    assert nb.cells[1].outputs == [], "the setup cell prints nothing outside Colab"


def test_sections_in_order(chapter):
    _, nb = chapter
    headings = [line[3:].strip() for c in nb.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## ")]
    positions = []
    for section in SECTIONS:
        assert section in headings, f"missing section '## {section}'"
        positions.append(headings.index(section))
    assert positions == sorted(positions), f"sections must come in the order {SECTIONS}"


def test_navigation_links(chapter):
    path, nb = chapter
    assert nb.cells[-1].source == book.nav_cell_source(path.stem)
    for target in re.findall(r"\]\(([^)#]+\.ipynb)\)", nb.cells[-1].source):
        assert (path.parent / target).exists(), f"link to missing chapter {target}"


def test_exercises_have_a_checker_and_tagged_solutions(chapter):
    _, nb = chapter
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any("solution" in c.metadata.get("tags", []) for c in code), "no cell tagged 'solution'"
    assert any("helpers.exercises" in c.source for c in code), "no automatic checker from helpers.exercises"


def test_executed_once_top_to_bottom(chapter):
    _, nb = chapter
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts} are not one fresh run"


def test_no_errors_or_machine_paths_in_outputs(chapter):
    _, nb = chapter
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"cell {i} has an error output"
            text = out.get("text", "") + "".join(
                v for k, v in out.get("data", {}).items() if k.startswith("text/") and isinstance(v, str))
            assert not MACHINE_PATH.search(text), f"cell {i} shows a machine path"
            assert "Warning" not in out.get("text", ""), f"cell {i} shows a warning: {out.get('text', '')[:200]}"


def test_figures_are_images(chapter):
    _, nb = chapter
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if "<Figure size" in str(out.get("data", {}).get("text/plain", "")):
                assert "image/png" in out["data"], f"cell {i}: a figure without its image"


def test_ignored_outputs_say_why(chapter):
    _, nb = chapter
    for i, cell in enumerate(nb.cells):
        if "nbval-ignore-output" in cell.metadata.get("tags", []):
            assert re.search(r"#.*(nbval|not compared|ignore)", cell.source, re.I), \
                f"cell {i} is tagged nbval-ignore-output without a comment saying why"


def test_readme_and_toc_list_the_chapters():
    assert (book.ROOT / "README.md").read_text() == book.readme_source(), "run: python tools/book.py toc"
    assert (book.ROOT / "_toc.yml").read_text() == book.toc_source(), "run: python tools/book.py toc"
