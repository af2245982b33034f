"""The frozen test split (labels/splits.yaml) never reaches a training set."""

from __future__ import annotations

import json

import yaml

from huashu.paths import labels_dir


def test_split_file_is_well_formed_and_frozen_sets_are_disjoint():
    from huashu.train.dataset import rules_dev_ids, test_split_ids

    data = yaml.safe_load((labels_dir() / "splits.yaml").read_text(encoding="utf-8"))
    test = test_split_ids()
    assert set(data["test"]) >= {"rules_split_test_half", "batch3"}
    assert len(test) == sum(len(v) for v in data["test"].values()), "an article listed twice"
    assert len(test) >= 116
    assert not test & rules_dev_ids()
    # the rules_split test half is exactly the parity rule of train/experiments/rules_split.py
    from huashu.train.experiments.rules_split import half_of

    assert all(half_of(i) == "test" for i in data["test"]["rules_split_test_half"])


def test_training_sets_never_contain_a_test_article(monkeypatch):
    from huashu.train.dataset import DatasetArguments, load_corpus, load_gold, test_split_ids
    from huashu.train.spancat import SpanCatConfig, dev_examples

    test = test_split_ids()
    gold = load_gold()
    assert {e.doc.id for e in gold} & test, "the gold holds test articles (they are scored once)"
    dev, held = dev_examples(SpanCatConfig())
    assert not {e.doc.id for e in dev} & test
    assert {e.doc.id for e in held} <= test
    corpus = load_corpus(DatasetArguments(weak=True, weak_max_docs=0), gold=gold, hancd_docs=[])
    assert not set(corpus.gold_ids) & test


def test_batch3_test_articles_were_chosen_before_annotation():
    """Each batch-3 test article is in the batch's selection file, 6 per stratum."""
    from collections import Counter

    sel = [
        json.loads(x) for x in (labels_dir() / "batches" / "batch3.selection.jsonl").read_text().splitlines()
    ]
    data = yaml.safe_load((labels_dir() / "splits.yaml").read_text(encoding="utf-8"))
    chosen = {r["doc_id"] for r in sel if r["split"] == "test"}
    assert chosen == set(data["test"]["batch3"])
    assert set(Counter(r["stratum"] for r in sel if r["split"] == "test").values()) == {6}
