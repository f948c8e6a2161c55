"""The packing benchmark at its smoke size, so it never rots; checks the DESIGN result shape."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke_writes_the_result_shape(tmp_path, gguf_path):
    out = tmp_path / "trainer.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "packing.py"), "--smoke", "--device", "cpu",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert set(data) == {"name", "date", "commit", "machine", "samples", "metrics", "notes"}
    assert data["name"] == "trainer" and data["samples"] == 2
    assert set(data["metrics"]) == {"packed_tokens_per_s", "padded_tokens_per_s", "ratio", "packed_peak_mb", "padded_peak_mb"}
    assert all(isinstance(v, (int, float)) and v > 0 for v in data["metrics"].values())
