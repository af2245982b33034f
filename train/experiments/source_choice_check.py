"""Experiment: does the release's per-label source choice (classifier / rules / union, chosen on the
CV predictions of the articles the rules were never revised on) generalise to articles it was not
chosen on? Nested inside the CV predictions of one ``huashu eval --config spancat`` run: for each of
its folds, choose on the fresh articles of the *other* folds, apply the choice to this fold, pool.
No model is trained; it reads the eval's ``report.json`` (CV predictions per article).

Both release evaluations so far found the choice helping in CV and costing on the frozen test split;
this measures the same question without touching the test split.

Run::

    python -m huashu.train.experiments.source_choice_check ~/.cache/huashu/runs/spancat/eval/report.json
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from huashu.log import setup_logging
from huashu.metrics import choose_sources, span_scores
from huashu.spans import Span
from huashu.train.dataset import kfold, rules_dev_ids, span_labels
from huashu.train.spancat import combine, load_spancat_config, source_scores
from huashu.train.train import CONFIG_DIR

log = logging.getLogger("huashu.experiments.source_choice_check")


def _spans(rows: list[dict[str, Any]]) -> list[Span]:
    return [Span(int(r["start"]), int(r["end"]), str(r["label"]), float(r.get("score", 1.0))) for r in rows]


def nested_choice(report: dict[str, Any], folds: int, seed: int) -> dict[str, Any]:
    labels = span_labels()
    docs = {d["id"]: d for d in report["documents"]}
    gold = {i: _spans(d["gold"]) for i, d in docs.items()}
    model = {i: _spans(d["pred"]["model"]) for i, d in docs.items()}
    rules = {i: _spans(d["pred"]["rules"]) for i, d in docs.items()}
    fresh = set(docs) - rules_dev_ids()
    nested: dict[str, list[Span]] = {}
    choices = []
    for train_ids, test_ids in kfold(sorted(docs), folds, seed):
        ids = [i for i in train_ids if i in fresh] or list(train_ids)
        choice, _ = choose_sources(source_scores({i: gold[i] for i in ids}, model, rules), labels)
        choices.append(choice)
        for i in test_ids:
            nested[i] = combine(model[i], rules[i], choice)

    def micro(ids: list[str], pred: dict[str, list[Span]]) -> float:
        return round(float(span_scores({i: gold[i] for i in ids}, {i: pred[i] for i in ids}, labels)["micro"][
            "partial_f1"]), 4)

    out: dict[str, Any] = {}
    for name, ids in (("all", sorted(docs)), ("fresh", sorted(fresh))):
        out[name] = {
            "articles": len(ids),
            "classifier": micro(ids, model),
            "rules": micro(ids, rules),
            "nested_choice": micro(ids, nested),
        }
    out["choices_per_label"] = {
        lb: dict(Counter(c[lb] for c in choices)) for lb in labels
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path, help="report.json of a `huashu eval --config spancat` run")
    a = ap.parse_args()
    setup_logging()
    cfg = load_spancat_config(CONFIG_DIR / "spancat.yaml", [])
    report = json.loads(a.report.read_text(encoding="utf-8"))
    print(json.dumps(nested_choice(report, cfg.folds, cfg.seed), indent=1))


if __name__ == "__main__":
    main()
