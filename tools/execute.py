"""Execute chapters top to bottom in a fresh kernel and write them back with outputs.

    python tools/execute.py                      # every chapter, in order
    python tools/execute.py chapters/02_*.ipynb  # some chapters

Each chapter runs in a new kernel started in chapters/ (as nbval does), so the stored
outputs are those of one clean run. For each chapter it prints the wall time and the
kernel's peak memory (the peak resident set size of the kernel process, in MiB; the
book's budget is 600 MiB, Binder gives 2 GB). A chapter that raises is not written back
and the command exits non-zero.
"""
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent

# Run in the kernel after the chapter's last cell; never stored in the notebook.
# ru_maxrss is the process's peak resident set size: KiB on Linux, bytes on macOS.
PEAK_PROBE = """\
import resource as _resource, sys as _sys
_peak = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss
print("peak_rss_bytes", _peak if _sys.platform == "darwin" else _peak * 1024)
"""


def execute(path: Path) -> tuple[float, float]:
    """Run one chapter in a fresh kernel, write it back; return (seconds, peak MiB)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    probe = nbformat.v4.new_code_cell(PEAK_PROBE)
    nb.cells.append(probe)
    start = time.perf_counter()
    try:
        client.execute()
        seconds = time.perf_counter() - start
    finally:
        assert nb.cells.pop() is probe
    printed = "".join(out.get("text", "") for out in probe.outputs)
    peak_mib = int(printed.split()[-1]) / 2**20
    # Keep stored notebooks free of run-specific metadata (timings, widget state).
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    return seconds, peak_mib


def main(args: list[str]) -> int:
    paths = [Path(a) for a in args] or sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    failed = []
    total = 0.0
    for path in paths:
        try:
            seconds, peak_mib = execute(path.resolve())
        except CellExecutionError as err:
            print(f"{path.name}: FAILED\n{str(err)[:2000]}")
            failed.append(path.name)
            continue
        total += seconds
        print(f"{path.name}: {seconds:6.1f} s  {peak_mib:6.0f} MiB peak", flush=True)
    print(f"total: {total:.1f} s for {len(paths) - len(failed)} chapter(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
