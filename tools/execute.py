"""Execute chapters top to bottom in a fresh kernel and write them back with outputs.

    python tools/execute.py                      # every chapter, in order
    python tools/execute.py chapters/02_*.ipynb  # some chapters

Each chapter runs in a new kernel started in chapters/ (as nbval does), so the stored
outputs are those of one clean run; its wall time is printed. A chapter that raises
is not written back and the command exits non-zero.
"""
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent


def execute(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    # Keep stored notebooks free of run-specific metadata (timings, widget state).
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return seconds


def main(args: list[str]) -> int:
    paths = [Path(a) for a in args] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    failed = []
    total = 0.0
    for path in paths:
        try:
            seconds = execute(path.resolve())
        except CellExecutionError as err:
            print(f"{path.name}: FAILED\n{str(err)[:2000]}")
            failed.append(path.name)
            continue
        total += seconds
        print(f"{path.name}: {seconds:6.1f} s")
    print(f"total: {total:.1f} s for {len(paths) - len(failed)} chapter(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
