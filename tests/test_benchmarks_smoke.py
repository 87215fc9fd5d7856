"""benchmarks/run.py --quick runs and prints every row (timings are never asserted)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("digits_mlp", "synthetic_cnn", "image_cnn")
METHODS = ("gradient", "input_x_gradient", "integrated_gradients", "smoothgrad")
QUICK_BATCHES = ("1", "2")


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_quick_run_prints_every_row():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()

    header = next(i for i, line in enumerate(lines) if line.split()[:3] == ["model", "N", "method"])
    assert "helpers/Captum" in lines[header] and "helpers/floor" in lines[header]
    rows = {}
    for line in lines[header + 2:]:
        cells = line.split()
        if not cells:
            break
        assert len(cells) == 8, line
        assert all(_is_number(c) and float(c) > 0 for c in cells[3:]), line  # 3 times, 2 ratios
        rows[tuple(cells[:3])] = cells[3:]
    expected = {(m, n, k) for m in MODELS for n in QUICK_BATCHES for k in METHODS}
    assert set(rows) == expected

    # The peak-memory table: IG without and with batch_size chunking.
    mem = next(i for i, line in enumerate(lines) if line.split()[:3] == ["method", "implementation", "batch_size"])
    mem_rows = [line.split() for line in lines[mem + 2:] if line.strip() and not line.startswith("#")]
    assert [r[:3] for r in mem_rows] == [["integrated_gradients", "helpers", "None"],
                                         ["integrated_gradients", "helpers", "2"]]
    assert all(_is_number(c) for r in mem_rows for c in r[3:])
