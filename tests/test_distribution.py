"""How the book is installed and the ways it reaches readers: Binder, Colab, the student
edition (the web book: test_webbook.py).

Each part has a test here that fails when that part breaks. pyproject.toml is the one
list of dependencies; requirements.txt is a reader's install; README.md's set-up lines
are what CI runs.
"""
import ast
import importlib.metadata
import os
import platform
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tools import book, student_edition

ROOT = book.ROOT
BINDER = ROOT / "binder"


# --- Dependencies: pyproject.toml is the one list -----------------------------------

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]
EXTRAS = {extra: [Requirement(r) for r in reqs]
          for extra, reqs in PROJECT["optional-dependencies"].items()}
SETUP_HEADING = "## Set-up"


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path):
    """(requirement or option, file) for each line of a pip requirements file, following
    its -r includes (resolved beside the including file, as pip does)."""
    lines = []
    for line in path.read_text().splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).strip()  # pip's comments
        if line.startswith(("-r ", "--requirement ")):
            lines += requirement_lines((path.parent / line.split(maxsplit=1)[1]).resolve())
        elif line:
            lines.append((line, path))
    return lines


def requirements_in(path):
    """The Requirement objects of a requirements file (options and -e lines left out)."""
    return [Requirement(line) for line, _ in requirement_lines(path) if not line.startswith("-")]


def names(requirements):
    return {canonical(r.name) for r in requirements}


def readme_section(heading):
    text = (ROOT / "README.md").read_text()
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end != -1 else None]


def setup_commands():
    """The command lines of the README's set-up code block."""
    block = re.search(r"```bash\n(.*?)```", readme_section(SETUP_HEADING), re.S)
    assert block, "README.md's set-up section has no ```bash block"
    return [line.strip() for line in block.group(1).splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_requires_python_is_true():
    # tools/book.py imports tomllib (new in 3.11); every Python this file admits must work.
    allowed = SpecifierSet(PROJECT["requires-python"])
    uses_tomllib = [p.relative_to(ROOT) for folder in ("helpers", "tools", "tests", "benchmarks")
                    for p in (ROOT / folder).rglob("*.py")
                    if re.search(r"^\s*(import|from) tomllib\b", p.read_text(), re.M)]
    if uses_tomllib:
        assert "3.10.99" not in allowed, \
            f"{[str(p) for p in uses_tomllib]} import tomllib (Python 3.11+), requires-python is {allowed}"
    assert platform.python_version() in allowed
    binder_python = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    assert binder_python + ".0" in allowed, f"binder/runtime.txt {binder_python} vs {allowed}"
    tested = re.search(r"Python (3\.\d+)", readme_section("## Tested with")).group(1)
    assert tested + ".0" in allowed


def test_readers_requirements_are_jupyterlab_and_the_book_only():
    lines = [line for line, _ in requirement_lines(ROOT / "requirements.txt")]
    assert "-e ." in lines, "requirements.txt must install the book's package (-e .)"
    tools = set().union(*(names(reqs) for reqs in EXTRAS.values())) - {"jupyterlab"}
    reader = names(requirements_in(ROOT / "requirements.txt"))
    assert not reader & tools, f"requirements.txt installs developer tools: {sorted(reader & tools)}"
    assert reader == {"jupyterlab"}, \
        f"requirements.txt names {sorted(reader)}: the book's dependencies belong in pyproject.toml"
    assert not (ROOT / "requirements-test.txt").exists(), "test tools are the extras in pyproject.toml"
    # Captum is the reader's next step: the chapters also run the methods through it.
    assert "captum" in names(RUNTIME)


def imported_modules(source):
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def installed_closure(requirements):
    """Distributions installed here that the given requirements pull in, transitively."""
    seen, todo = set(), list(requirements)
    while todo:
        req = todo.pop()
        name = canonical(req.name)
        if name in seen:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        seen.add(name)
        for line in dist.requires or []:
            dep = Requirement(line)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                todo.append(dep)
    return seen


def not_provided(sources, requirements):
    """Third-party modules imported by the sources that the requirements do not install."""
    modules = {m for src in sources for m in imported_modules(src)}
    local = {"helpers", "tools", "tests", "_models", "conftest", "google", "__future__"}
    third_party = modules - set(sys.stdlib_module_names) - local
    provided = installed_closure(requirements)
    # A module that is not installed here (playwright, before the browser extra is
    # installed) has no owner on record: it counts as provided only when a requirement
    # names a distribution of the same name.
    named = names(requirements)
    owners = importlib.metadata.packages_distributions()
    def is_provided(module):
        if module not in owners:
            return canonical(module) in named
        return any(canonical(d) in provided for d in owners[module])
    return {m: owners.get(m) for m in third_party if not is_provided(m)}


def test_the_readers_install_provides_every_module_the_chapters_and_helpers_import():
    sources = [p.read_text() for p in (ROOT / "helpers").glob("*.py")]
    for stem in book.existing_chapters():
        nb = nbformat.read(ROOT / "chapters" / f"{stem}.ipynb", as_version=4)
        sources += ["\n".join(line for line in c.source.splitlines() if not line.lstrip().startswith(("%", "!")))
                    for c in nb.cells if c.cell_type == "code"]
    missing = not_provided(sources, RUNTIME + requirements_in(ROOT / "requirements.txt"))
    assert not missing, (f"chapters or helpers import {missing}, which the reader's install "
                         "(requirements.txt + pyproject.toml's dependencies) does not provide")


def test_the_extras_provide_every_module_the_tests_import():
    reader = RUNTIME + requirements_in(ROOT / "requirements.txt")
    for folder, extras in [("tests", ["test", "docs", "teacher"]), ("tests/browser", ["test", "docs", "browser"]),
                           ("benchmarks", ["test"])]:
        sources = [p.read_text() for p in (ROOT / folder).glob("*.py")]
        missing = not_provided(sources, reader + [r for e in extras for r in EXTRAS[e]])
        assert not missing, f"{folder}/ imports {missing}, which the extras {extras} do not install"


def test_version_ranges_agree_wherever_they_appear():
    # Every range written in more than one place is written the same; every pinned or
    # "tested with" version lies in the range pyproject.toml gives.
    ranges = {}
    places = [("pyproject.toml [project.dependencies]", RUNTIME)]
    places += [(f"pyproject.toml [{extra}]", reqs) for extra, reqs in EXTRAS.items()]
    for path in (ROOT / "requirements.txt", BINDER / "requirements.txt"):
        places.append((str(path.relative_to(ROOT)), requirements_in(path)))
    for place, reqs in places:
        for req in reqs:
            ranges.setdefault(canonical(req.name), {})[place] = req.specifier
    disagree = {name: {p: str(s) for p, s in where.items()}
                for name, where in ranges.items() if len(set(map(str, where.values()))) > 1}
    assert not disagree, f"ranges differ: {disagree}"
    pins = re.findall(r'"([A-Za-z0-9_.-]+)==([0-9][^"\s]*)"', (ROOT / ".ci" / "run").read_text())
    tested = re.findall(r"([A-Za-z][\w-]*) (\d+\.\d+(?:\.\d+)?)", readme_section("## Tested with"))
    checked = 0
    for name, version in pins + tested:
        where = ranges.get(canonical(name))
        if where:
            spec = next(iter(where.values()))
            assert version in spec or version + ".0" in spec, f"{name} {version} is outside {spec}"
            checked += 1
    assert pins and checked >= len(pins) + 5, "the pins and tested versions were not found"


# --- The README's two set-up lines and CI ------------------------------------------

def test_readme_setup_is_two_lines_one_to_read_one_to_test():
    commands = setup_commands()
    assert len(commands) == 2, f"the set-up block must hold two command lines, it holds {commands}"
    read, test = commands
    assert read == "python -m pip install -r requirements.txt && jupyter lab"
    assert test.startswith("python -m pip install ") and test.endswith(" && python -m pytest")
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', test)
    assert extras, f"the test line must install the book with its test extras: {test}"
    # python -m pytest builds the web book too (test_web_book_... below): it needs docs.
    assert set(extras.group(1).split(",")) == {"test", "docs", "teacher"}
    assert set(extras.group(1).split(",")) <= set(EXTRAS)


def test_ci_runs_the_readmes_test_line_exactly_after_pinning_torch():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    test_line = setup_commands()[1]
    runs = [i for i, line in enumerate(ci) if line in (test_line, test_line + " || exit 1")]
    assert runs, f".ci/run must run the README's test line as written: {test_line}"
    torch_pin = next(i for i, line in enumerate(ci) if 'pip install --quiet "torch==' in line)
    assert torch_pin < runs[0], "torch must be installed (pinned) before the rest"
    assert any(line.startswith("export PIP_CONSTRAINT=") for line in ci[torch_pin:runs[0]]), \
        "a constraint keeps later installs from replacing the pinned torch"
    assert "ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 python -m pytest chapters" in ci
    assert "python -m pytest -m browser" in ci
    assert "playwright install" not in "\n".join(ci), "the browser is Debian's chromium"


def test_browser_and_gpu_tests_are_deselected_by_default():
    options = PYPROJECT["tool"]["pytest"]["ini_options"]
    declared = {m.split(":")[0] for m in options["markers"]}
    assert {"browser", "gpu"} <= declared
    assert "-m 'not browser and not gpu'" in options["addopts"]
    section = readme_section(SETUP_HEADING)
    assert "python -m pytest -m browser" in section and "python -m pytest -m gpu" in section


# --- Binder (repo2docker) -------------------------------------------------------

def test_binder_folder_is_complete_because_it_hides_the_root_files():
    # repo2docker's documented rule: if a binder/ (or .binder/) folder exists, the
    # configuration files in the repository's root are ignored. So binder/requirements.txt
    # must install, itself or through an include, everything the root requirements.txt
    # installs: here it includes that file, and adds only what differs.
    assert BINDER.is_dir() and not (ROOT / ".binder").exists()
    binder_lines = requirement_lines(BINDER / "requirements.txt")
    root_lines = requirement_lines(ROOT / "requirements.txt")
    assert [line for line, _ in root_lines] == [line for line, path in binder_lines
                                                 if path == ROOT / "requirements.txt"], \
        "binder/requirements.txt must include the root requirements.txt (-r ../requirements.txt)"
    own = [line for line, path in binder_lines if path == BINDER / "requirements.txt"]
    assert all(line.startswith("--") for line in own), \
        f"binder/requirements.txt may add options only, packages belong in pyproject.toml: {own}"
    # repo2docker installs a requirements file before copying the repository unless it
    # has a local reference (-r, -e, a path); "-e ." needs the repository, and pip
    # resolves it against the working directory, which repo2docker sets to the root.
    first = (BINDER / "requirements.txt").read_text().splitlines()
    assert any(line.startswith(("-r ", "-e ")) for line in first)
    assert set(p.name for p in BINDER.iterdir()) <= {"requirements.txt", "runtime.txt"}, \
        "binder/ keeps only what differs from the root (postBuild is not needed: -e . installs the book)"


def test_binder_uses_cpu_pytorch():
    options = [line for line, path in requirement_lines(BINDER / "requirements.txt") if line.startswith("--")]
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in options, \
        "Binder must use CPU builds of torch"
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
            if "solution" in a.metadata.get("tags", []) and a.cell_type == "markdown":
                assert b.source == student_edition.MODEL_ANSWER_PLACEHOLDER  # model answers in prose
            elif "solution" in a.metadata.get("tags", []):
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
