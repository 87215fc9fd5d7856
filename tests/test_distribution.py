"""The ways the book reaches readers: Binder, Colab, the student edition (the web book: test_webbook.py).

Each part has a test here that fails when that part breaks.
"""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tools import book, student_edition

ROOT = book.ROOT
BINDER = ROOT / "binder"


def requirement_names(path):
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[ ]", line)[0].lower())
    return names


# --- Binder (repo2docker) -------------------------------------------------------

def test_binder_folder_is_complete_because_it_hides_the_root_files():
    # repo2docker's documented rule: if a binder/ (or .binder/) folder exists, the
    # configuration files in the repository's root are ignored. So binder/ must carry
    # everything a reader needs that the root requirements.txt would have installed.
    assert BINDER.is_dir() and not (ROOT / ".binder").exists()
    reader_packages = requirement_names(ROOT / "requirements.txt") - {"jupyter", "nbval", "nbclient", "nbformat"}
    assert reader_packages <= requirement_names(BINDER / "requirements.txt"), \
        "binder/requirements.txt misses packages the chapters import"


def test_binder_uses_cpu_pytorch_and_installs_the_helpers():
    reqs = (BINDER / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in reqs, "Binder must use CPU builds of torch"
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "repo2docker runs postBuild only if it is executable"
    assert post.read_text().startswith("#!"), "postBuild needs a shebang"
    assert re.search(r"pip install .*-e \.", post.read_text()), "postBuild must install the helpers package"
    assert re.fullmatch(r"python-3\.\d+\n?", (BINDER / "runtime.txt").read_text())


# --- Colab ----------------------------------------------------------------------

def run_colab_bootstrap(tmp_path, source_repo):
    """Run the chapters' setup cell as Colab would, against a local clone at a test ref."""
    workdir = tmp_path / "content"
    workdir.mkdir()
    origin = tmp_path / "origin"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(source_repo), str(origin)], check=True)
    subprocess.run(["git", "-C", str(origin), "checkout", "--quiet", "-b", "colab-test"], check=True)
    cfg = book.config()
    setup = book.setup_cell_source()
    setup = setup.replace(f'"{cfg["repository"]}"', repr(origin.as_uri()))
    setup = setup.replace(f'"{cfg["ref"]}"', '"colab-test"')
    assert "file://" in setup and "colab-test" in setup
    site = tmp_path / "site"
    script = textwrap.dedent(f"""
        import sys, types
        sys.modules["google.colab"] = types.ModuleType("google.colab")  # pretend to be Colab
    """) + setup + textwrap.dedent("""

        import helpers, helpers.data, helpers.models
        print("helpers from", helpers.__file__)
        print("digits", tuple(helpers.data.load_digits().x.shape))
        print("model", type(helpers.models.load_pretrained("digits_mlp")).__name__)
    """)
    env = dict(os.environ)
    # Install into a folder of this test instead of the test's own environment; the
    # book's dependencies (and setuptools, to build it) are already there, as on Colab.
    # (pip's --target cannot be combined with an isolated build environment; note that
    # PIP_NO_BUILD_ISOLATION=0 is how pip spells --no-build-isolation in the environment.)
    env.update(PIP_TARGET=str(site), PIP_NO_DEPS="1", PIP_NO_BUILD_ISOLATION="0", PYTHONPATH=str(site))
    env.pop("ATTRIBUTION_BOOK_DATA", None)
    return subprocess.run([sys.executable, "-c", script], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=300), workdir, site


def test_colab_setup_cell_installs_the_book_from_a_clone(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("needs the repository's git history to clone from")
    result, workdir, site = run_colab_bootstrap(tmp_path, ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (workdir / book.CLONE_DIR / "chapters" / "00_preface.ipynb").exists()
    assert f"helpers from {site}" in result.stdout, "helpers must come from the fresh install"
    assert "digits (400, 1, 8, 8)" in result.stdout and "model Sequential" in result.stdout


def test_setup_cell_is_a_no_op_outside_colab(tmp_path):
    result = subprocess.run([sys.executable, "-c", book.setup_cell_source()], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "" and list(tmp_path.iterdir()) == []


def test_badges_point_to_each_chapter_at_the_pinned_ref():
    cfg = book.config()
    for stem in book.existing_chapters():
        assert book.colab_url(stem).endswith(f"/blob/{cfg['ref']}/chapters/{stem}.ipynb")
        assert f"/{cfg['ref']}?labpath=chapters%2F{stem}.ipynb" in book.binder_url(stem)
        assert book.github_slug() in book.colab_url(stem) and book.github_slug() in book.binder_url(stem)


# The web book's tests are in tests/test_webbook.py.


# --- The classroom edition ---------------------------------------------------------

def test_placeholder_sets_every_answer_name_to_none():
    source = "import math\nx = 1\ny, z = 2, 3\nwith open('f') as fh:\n    w = fh.read()\ndef f(a):\n    b = a\n    return b\nsq = [i * i for i in range(3)]"
    assert student_edition.placeholder(source).splitlines()[1:] == [
        "math = None", "x = None", "y = None", "z = None", "fh = None", "w = None", "f = None", "sq = None"]


def test_student_edition_keeps_everything_but_the_solutions(tmp_path):
    written = student_edition.write_edition(tmp_path)
    assert [p.stem for p in written] == book.existing_chapters()
    for path in written:
        original = nbformat.read(ROOT / "chapters" / path.name, as_version=4)
        student = nbformat.read(path, as_version=4)
        assert len(original.cells) == len(student.cells)
        for a, b in zip(original.cells, student.cells):
            if "solution" in a.metadata.get("tags", []):
                assert b.source.startswith("# YOUR ANSWER HERE") and b.outputs == []
            else:
                assert a.source == b.source
        assert not any("solution" in c.metadata.get("tags", []) for c in student.cells)


def test_student_copy_runs_and_reports_not_yet_solved(tmp_path):
    path = student_edition.write_edition(tmp_path)[0]
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    printed = "".join(out.get("text", "") for c in nb.cells for out in c.get("outputs", []))
    assert "not yet solved" in printed and "correct ✓" not in printed
