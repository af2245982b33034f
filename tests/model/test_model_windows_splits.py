"""Sliding windows, merging, and splits by article."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from model_synth import make_examples, make_headlines

from huashu.inference import merge_windows, windows
from huashu.train.dataset import (
    Corpus,
    DatasetArguments,
    build_dataset,
    headline_split,
    kfold,
    span_labels,
    split_by_article,
)


@pytest.mark.parametrize("n", [0, 1, 61, 62, 63, 200, 1001])
@pytest.mark.parametrize("max_length,stride", [(64, 16), (64, 0), (10, 7), (512, 128)])
def test_windows_cover_every_token(n, max_length, stride):
    ws = windows(n, max_length, stride)
    covered = np.zeros(n, dtype=int)
    for a, b in ws:
        assert 0 <= a < b <= n and b - a <= max_length - 2
        covered[a:b] += 1
    assert (covered >= 1).all()
    for (_, b1), (a2, _) in itertools.pairwise(ws):
        assert b1 - a2 == stride  # consecutive windows share exactly `stride` tokens
    assert not ws or ws[-1][1] == n


def test_windows_reject_bad_stride():
    with pytest.raises(ValueError):
        windows(100, 64, 62)


@pytest.mark.parametrize("how", ["mean", "centre"])
def test_merge_windows_restores_per_token_values(how):
    n = 300
    truth = np.random.default_rng(0).random((n, 4)).astype(np.float32)
    ws = windows(n, 50, 20)
    merged = merge_windows(n, ws, [truth[a:b] for a, b in ws], how)
    np.testing.assert_allclose(merged, truth, rtol=1e-6)


def test_merge_centre_prefers_the_central_window():
    ws = [(0, 10), (6, 16)]
    probs = [np.zeros((10, 1), np.float32), np.ones((10, 1), np.float32)]
    merged = merge_windows(16, ws, probs, "centre")[:, 0]
    assert merged[:6].tolist() == [0] * 6 and merged[10:].tolist() == [1] * 6
    assert merged[7] == 0 and merged[9] == 1  # 7 is central in window 0, 9 in window 1


def test_split_by_article_is_deterministic_and_disjoint():
    ids = [f"doc-{i}" for i in range(103)]
    a = split_by_article(ids, 13, 0.1, 0.2)
    b = split_by_article(list(reversed(ids)), 13, 0.1, 0.2)
    assert a == b
    assert sorted(a["train"] + a["validation"] + a["test"]) == sorted(ids)
    assert len(a["test"]) == 21 and len(a["validation"]) == 10
    assert split_by_article(ids, 14, 0.1, 0.2) != a
    # growing the corpus keeps most earlier test articles in test (hash order, not position)
    c = split_by_article([*ids, *(f"new-{i}" for i in range(10))], 13, 0.1, 0.2)
    assert len(set(a["test"]) & set(c["test"])) >= 15


def test_kfold_tests_every_article_once():
    ids = [f"d{i}" for i in range(23)]
    folds = kfold(ids, 5, 1)
    tested = [i for _, test in folds for i in test]
    assert sorted(tested) == sorted(ids)
    for train, test in folds:
        assert not set(train) & set(test) and sorted(train + test) == sorted(ids)
    assert kfold(ids, 5, 1) == folds


def test_learning_curve_subsets_are_nested_and_stay_in_the_training_fold():
    from huashu.train.dataset import subset_ids

    ids = [f"doc-{i}" for i in range(90)]
    train_ids, test_ids = kfold(ids, 5, 13)[0]
    sub = {n: subset_ids(train_ids, n, 13) for n in (10, 25, 50)}
    assert [len(s) for s in sub.values()] == [10, 25, 50]
    assert set(sub[10]) < set(sub[25]) < set(sub[50]) <= set(train_ids)
    assert not set(sub[50]) & set(test_ids)
    assert subset_ids(list(reversed(train_ids)), 25, 13) == sub[25]  # order of the input does not matter
    assert subset_ids(train_ids, 25, 14) != sub[25]


def test_dataset_has_no_leakage_and_weak_stays_out_of_eval(tokenizer):
    gold = make_examples(15, seed=3)
    weak = make_examples(4, seed=4, prefix="weak")
    corpus = Corpus(gold, weak, make_headlines(30), span_labels())
    args = DatasetArguments(max_length=32, stride=8, validation_fraction=0.2, test_fraction=0.2)
    dd, manifest = build_dataset(args, tokenizer, corpus)
    docs = {name: set(dd[name]["doc_id"]) for name in ("train", "validation", "test", "weak")}
    assert docs["train"] and docs["validation"] and docs["test"] and docs["weak"]
    assert not docs["train"] & docs["test"] and not docs["train"] & docs["validation"]
    assert not docs["validation"] & docs["test"]
    assert docs["weak"] == {e.doc.id for e in weak}
    assert not docs["weak"] & (docs["validation"] | docs["test"])
    assert all(dd["weak"]["weak"]) and not any(dd["test"]["weak"])
    # every window fits, targets line up with the ids, specials are ignored
    for row in dd["train"]:
        assert len(row["input_ids"]) <= 32
        assert len(row["token_labels"]) == len(row["input_ids"])
        assert row["token_labels"][0] == [-100] * (2 * len(corpus.labels))
    # the same seed gives the same dataset
    dd2, manifest2 = build_dataset(args, tokenizer, corpus)
    assert manifest2["splits"] == manifest["splits"]
    assert dd2["train"]["input_ids"] == dd["train"]["input_ids"]


def test_weak_examples_skip_gold_articles():
    from huashu.spans import Document
    from huashu.train.dataset import weak_examples

    gold = make_examples(3, seed=1)
    same_text = Document(id="other-id", text=gold[1].doc.text, meta={"title_span": [0, 3]})
    fresh = Document(id="fresh", text="标题\n有分析人士指出，这是釜底抽薪。", meta={"title_span": [0, 2]})
    out = weak_examples([gold[0].doc, same_text, fresh], gold)
    assert [e.doc.id for e in out] == ["fresh"]
    assert {s.label for s in out[0].spans} >= {"vague_authority"}


def test_headline_split_is_stable():
    heads = make_headlines(200)
    tr, te = headline_split(heads, 0.2)
    assert 20 <= len(te) <= 60 and len(tr) + len(te) == 200
    assert headline_split(list(reversed(heads)), 0.2)[1] == list(reversed(te))
    assert not {h.text for h in tr} & {h.text for h in te}


def test_export_choice_respects_agreement_and_size():
    from huashu.train.export import choose

    bench = {
        "fp32": {"chars_per_s": 100.0, "agreement_partial_f1": 1.0},
        "bf16": {"chars_per_s": 260.0, "agreement_partial_f1": 0.995},
        "int8": {"chars_per_s": 150.0, "agreement_partial_f1": 0.97},  # too far from fp32
        "onnx": {"chars_per_s": 300.0, "agreement_partial_f1": 1.0},  # too big to commit
        "onnx-int8": {"error": "not installed"},
    }
    assert choose(bench, {"onnx": 104.0, "bf16": 52.0, "fp32": 52.0}) == "bf16"
    assert choose(bench, {"onnx": 40.0}) == "onnx"


def test_set_overrides_read_numbers_as_numbers(repo_root):
    """`--set train.lr=1e-4`: YAML 1.1 would read 1e-4 as a string and AdamW would crash on it."""
    from huashu.train.train import load_config

    cfg = load_config(repo_root / "train/configs/tiny.yaml",
                      ["train.lr=1e-4", "data.max_length=64", "train.bf16=false"])
    assert cfg.train.lr == 1e-4 and isinstance(cfg.train.lr, float)
    assert cfg.data.max_length == 64 and cfg.train.bf16 is False
