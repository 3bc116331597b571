"""bench/bench_irnn.py and bench/bench_vowels.py run end to end with tiny settings and print what they promise."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script: str, *args: str) -> tuple[str, list[dict]]:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line[len("json: "):]) for line in out.stdout.splitlines() if line.startswith("json: ")]
    return out.stdout, rows


def test_bench_irnn_tiny():
    text, rows = _run("bench_irnn.py", "--steps", "5", "--seeds", "1", "--sweep-steps", "4", "--eval-every", "2",
                      "--seq-lens", "12", "--n-test", "50", "--lrs", "1e-3,1e-2")
    assert text.startswith("uptime:") and "machine:" in text.splitlines()[1]
    sweep = [r for r in rows if r["phase"] == "sweep"]
    runs = [r for r in rows if r["phase"] == "run"]
    assert len(sweep) == 4 * 2 and {r["lr"] for r in sweep} == {1e-3, 1e-2}
    assert {r["config"] for r in runs} == {"irnn", "tanh-orth", "tanh-gauss", "lstm"}
    for r in runs:
        assert r["T"] == 12 and r["seed"] == 0 and r["budget"] == 5
        assert r["threshold_mse"] == pytest.approx(0.1 / 6)
        assert [s for s, _ in r["curve"]] == [0, 2, 4, 5] or r["stopped"]
        assert r["solved"] == (r["updates_to_solve"] is not None)
        assert r["final_mse"] is None or r["final_mse"] >= 0
    assert "chosen lr:" in text and "summary" in text


def test_bench_vowels_tiny():
    text, rows = _run("bench_vowels.py", "--steps", "5", "--seeds", "1")
    assert text.startswith("uptime:") and "94.1%" in text
    assert [r["cell"] for r in rows] == ["rnn", "lstm", "gru"]
    for r in rows:
        assert r["steps"] == 5 and r["n_train"] == 270 and r["n_test"] == 370
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["train_accuracy"] <= 1.0
