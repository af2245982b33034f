"""Experiment: cross-validate span-classifier variants on the gold outside the frozen test split.

Each run builds the candidate tables once and cross-validates one configuration (``--set key=value``
overrides of train/configs/spancat.yaml), printing the pooled partial micro-F1 of the classifier, the
rules and TF-IDF on the same folds, the same scores on the articles the rules were never revised on
(``rules_dev`` in labels/splits.yaml), the per-label source choice there, and the micro F1 that
thresholds chosen on the CV predictions themselves would give (an optimistic bound: it shows how much
the in-fold threshold choice costs, it is not a result). The design history in
train/reports/spancat/EXPERIMENTS.md comes from these runs.

Run (2-core CPU, ~8 min per variant once the encoder features are cached)::

    python -m huashu.train.experiments.spancat_variants --set layers=[3,6,9] --set keep_layers=9
"""

from __future__ import annotations

import argparse
import json
import logging
import time

from huashu.log import setup_logging
from huashu.metrics import span_scores
from huashu.rules import RulesDetector
from huashu.train.dataset import rules_dev_ids, span_labels
from huashu.train.spancat import (
    FeatureCache,
    build_tables,
    choose_thresholds,
    cross_validate,
    decode_all,
    dev_examples,
    load_spancat_config,
    source_choice,
)
from huashu.train.train import CONFIG_DIR

log = logging.getLogger("huashu.experiments.spancat_variants")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="key=value (YAML value)")
    a = ap.parse_args()
    setup_logging()
    import torch

    torch.set_num_threads(2)
    cfg = load_spancat_config(CONFIG_DIR / "spancat.yaml", a.overrides)
    labels = span_labels()
    dev, _ = dev_examples(cfg)
    t0 = time.monotonic()
    tables = build_tables(dev, cfg, FeatureCache(cfg.base, max_length=cfg.max_length, stride=cfg.stride))
    r = cross_validate(tables, cfg)
    out = {"overrides": a.overrides, "articles": len(tables), "seconds": round(time.monotonic() - t0)}
    out["cv"] = {k: round(float(v["micro"]["partial_f1"]), 4) for k, v in r["scores"].items()}
    out["cv_per_label"] = {
        k: {lb: round(float(v[lb]["partial_f1"]), 3) for lb in labels} for k, v in r["scores"].items()
    }
    yields_to = RulesDetector().yields_to
    oracle = choose_thresholds(tables, r["probs"], cfg.threshold_grid, yields_to, cfg.threshold_objective)
    gold = {t.id: t.gold for t in tables}
    out["cv_thresholds_chosen_on_cv"] = round(
        float(
            span_scores(gold, decode_all(tables, r["probs"], oracle, yields_to), labels)["micro"][
                "partial_f1"
            ]
        ),
        4,
    )
    fresh = source_choice(r, tables, {t.id for t in tables} - rules_dev_ids())
    out["fresh"] = {
        "articles": fresh["articles"],
        "micro": {k: v["partial_f1"] for k, v in fresh["per_source_micro"].items()},
        "choice": fresh["label_sources"],
        "choice_micro": round(fresh["micro_f1"], 4),
    }
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
