"""The nested check of the per-label source choice, on a synthetic CV report (no model needed)."""

from __future__ import annotations

from huashu.train.dataset import span_labels
from huashu.train.experiments.source_choice_check import nested_choice


def _report(n: int) -> dict:
    label = span_labels()[0]
    docs = []
    for i in range(n):
        gold = [{"start": 0, "end": 4, "label": label}]
        docs.append({"id": f"doc-{i:03d}", "gold": gold,
                     "pred": {"model": gold, "rules": [{"start": 10, "end": 14, "label": label}]}})
    return {"documents": docs}


def test_a_perfect_classifier_is_chosen_in_every_fold_and_scores_one():
    out = nested_choice(_report(10), folds=5, seed=13)
    assert out["all"]["classifier"] == 1.0
    assert out["all"]["rules"] == 0.0
    assert out["all"]["nested_choice"] == 1.0
    assert out["choices_per_label"][span_labels()[0]] == {"model": 5}
