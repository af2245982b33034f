"""`huashu bench` end to end, tiny: one engine, one size, one second of batch load."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from serve_helpers import HUASHU, REPO


def test_bench_rules_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    r = subprocess.run([*HUASHU, "bench", "--detector", "rules", "--sizes", "500,2500", "--requests", "3",
                        "--throughput-seconds", "1", "--clients", "2", "--batch-size", "2",
                        "--output", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "bench.json").read_text())
    assert report["machine"]["nproc"] and report["machine"]["cpu"]
    assert report["command"].startswith("huashu bench --detector rules")
    (engine,) = report["engines"]
    assert engine["spec"] == "rules" and engine["model"]["id"] == "rules"
    for size in ("500", "2500"):
        lat = engine["latency"][size]
        assert 0 < lat["p50_ms"] <= lat["p95_ms"]
    assert engine["throughput"]["chars_per_s"] > 0 and engine["errors"] == 0
    assert engine["peak_rss_mib"] > 10
    md = (out / "bench.md").read_text()
    assert "| `rules` |" in md and f"{report['machine']['nproc']} CPUs" in md
    assert "rules" in r.stdout  # the rich table


def test_bench_reports_a_bad_engine(tmp_path: Path) -> None:
    r = subprocess.run([*HUASHU, "bench", "--detector", str(tmp_path / "missing-model"), "--output",
                        str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "missing-model" in r.stderr and "Traceback" not in r.stderr
