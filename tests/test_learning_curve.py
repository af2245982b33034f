"""The learning-curve history (train/reports/learning-curve): rows from eval summaries, one report."""

from __future__ import annotations

import json
from pathlib import Path

from huashu.train.experiments.learning_curve import DEFAULT_OUT, from_summary, render


def _summary(tmp_path: Path, with_test: bool) -> Path:
    s = {
        "date": "2026-12-07 02:04:00 UTC",
        "command": "huashu eval --config spancat --test",
        "config": {"folds": 5},
        "data": {"dev_articles": 295, "test_articles": 116},
        "curve": [
            {"n_train": 100, "spancat": 0.403, "tfidf": 0.306, "rules": 0.431},
            {"n_train": 236, "spancat": 0.439, "tfidf": 0.304, "rules": 0.431},
        ],
        "seconds": 3098.7,
        "machine": {"cpu": "test CPU", "cores": 2},
    }
    if with_test:
        f1 = {"spancat": 0.4089, "release": 0.3954, "rules": 0.3638, "tfidf": 0.3067}
        s["test"] = {"scores": {k: {"micro": {"partial_f1": v}} for k, v in f1.items()}}
    p = tmp_path / "summary.json"
    p.write_text(json.dumps(s), encoding="utf-8")
    return p


def test_a_summary_becomes_a_row_with_its_curve_and_test_scores(tmp_path):
    run = from_summary(_summary(tmp_path, with_test=True), "abc1234")
    assert (run["gold_articles"], run["dev_articles"], run["commit"]) == (411, 295, "abc1234")
    assert [p["n_train"] for p in run["points"]] == [100, 236]
    md = render([run])
    assert "| 2026-12-07 02:04 UTC, `abc1234` | 411 (295 / 116) | 100 | 0.403 | 0.431 | 0.306 |" in md
    assert "|  |  | 236 | 0.439 | 0.431 | 0.304 |" in md
    assert "| 2026-12-07 02:04 UTC, `abc1234` | 295 | 0.409 | 0.395 | 0.364 | 0.307 |" in md


def test_a_cv_only_run_has_no_test_table(tmp_path):
    md = render([from_summary(_summary(tmp_path, with_test=False), "abc1234")])
    assert "frozen test split (116 articles), scored once" not in md


def test_the_committed_report_is_rendered_from_the_committed_runs():
    runs = [json.loads(x) for x in (DEFAULT_OUT / "runs.jsonl").read_text(encoding="utf-8").splitlines() if x]
    assert len(runs) >= 2
    assert (DEFAULT_OUT / "report.md").read_text(encoding="utf-8") == render(runs)
