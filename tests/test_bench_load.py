"""bench/load.py: its statistics, its refusal of addresses off this machine, and one short --room run."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from browser_support import bench_module

load = bench_module("load")


@pytest.mark.parametrize("values", [[1.0], [3.0, 1.0], [5, 1, 4, 2, 3], list(np.random.default_rng(0).exponential(size=101))])
@pytest.mark.parametrize("q", [0, 50, 95, 100])
def test_percentile_matches_numpy(values, q):
    assert load.percentile(list(values), q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edges():
    assert math.isnan(load.percentile([], 50))
    with pytest.raises(ValueError):
        load.percentile([1.0], 101)


def test_tally_summary_counts_errors_by_kind():
    t = load.Tally(moves=[0.1, 0.2, 0.3], opens=[1.0])
    t.error("timeout", "no script_finished")
    t.error("timeout")
    t.error("exception", "boom")
    s = t.summary()
    assert s["moves"] == 3 and s["p50_ms"] == pytest.approx(200) and s["max_ms"] == pytest.approx(300)
    assert s["errors"] == 3 and s["error_kinds"] == {"timeout": 2, "exception": 1}
    assert len(t.error_samples) == 2


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080", "http://example.org", "https://127.0.0.1:8080",
                                 "http://127.0.0.2:80"])
def test_only_this_machine(url):
    with pytest.raises(SystemExit):
        load.check_host(url)


def test_loopback_accepted():
    assert load.check_host("http://127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert load.check_host("http://localhost:9000/") == ("127.0.0.1", 9000)


def test_upload_files_are_mostly_valid_csv_and_sometimes_refusable():
    import random

    from ui.uploads import parse_inputs

    ok = bad = 0
    rng = random.Random(0)
    for _ in range(60):
        name, data = load.upload_file(rng)
        assert name.endswith(".csv") and data.endswith(b"\n")
        try:
            parse_inputs(data, name)
            ok += 1
        except ValueError:
            bad += 1
    assert ok >= 30 and bad >= 5, (ok, bad)


@pytest.mark.slow
def test_room_mode_redraws_every_student_for_every_teacher_move(tmp_path):
    """bench/load.py --room against a server it starts: 2 students, 2 teacher moves, every update seen."""
    out = tmp_path / "room.json"
    code = load.main(["--room", "--students", "2", "--moves", "2", "--every", "1", "--pages", "Unroll",
                      "--ramp", "0.5", "--timeout", "60", "--json", str(out)])
    (r,) = json.loads(out.read_text())["results"]
    assert code == 0 and r["errors"] == 0, r["error_samples"]
    assert r["joined"] == 2 and r["updates"] == 4
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"] < 60_000
