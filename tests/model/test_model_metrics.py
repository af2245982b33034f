"""SemEval-2020 T11 partial-overlap and exact span metrics on hand-computed examples."""

from __future__ import annotations

import pytest

from huashu.metrics import agreement, binary_scores, false_alarm_density, span_scores
from huashu.spans import Span


def test_partial_overlap_hand_example():
    gold = {"d": [Span(0, 10, "x"), Span(20, 24, "y")]}
    pred = {"d": [Span(5, 15, "x"), Span(20, 24, "x"), Span(20, 22, "y")]}
    s = span_scores(gold, pred, ["x", "y"])
    # x: pred [5,15) overlaps gold [0,10) by 5 → 5/10; pred [20,24) x overlaps nothing of label x
    assert s["x"]["partial_p"] == pytest.approx(0.5 / 2)
    assert s["x"]["partial_r"] == pytest.approx(5 / 10)
    # y: pred [20,22) inside gold [20,24): precision 2/2, recall 2/4
    assert s["y"]["partial_p"] == pytest.approx(1.0)
    assert s["y"]["partial_r"] == pytest.approx(0.5)
    # micro pools: P = (0.5 + 0 + 1) / 3, R = (0.5 + 0.5) / 2
    assert s["micro"]["partial_p"] == pytest.approx(1.5 / 3)
    assert s["micro"]["partial_r"] == pytest.approx(0.5)
    assert s["micro"]["partial_f1"] == pytest.approx(0.5)
    # macro: mean of per-label F1
    fx = 2 * 0.25 * 0.5 / 0.75
    fy = 2 * 1.0 * 0.5 / 1.5
    assert s["macro"]["partial_f1"] == pytest.approx((fx + fy) / 2)
    # exact: only nothing matches exactly
    assert s["micro"]["exact_p"] == 0.0 and s["micro"]["exact_r"] == 0.0


def test_labels_must_match_for_credit():
    s = span_scores({"d": [Span(0, 4, "x")]}, {"d": [Span(0, 4, "y")]}, ["x", "y"])
    assert s["micro"]["partial_f1"] == 0.0 and s["micro"]["exact_f1"] == 0.0


def test_one_prediction_covering_two_gold_spans():
    gold = {"d": [Span(0, 2, "x"), Span(4, 6, "x")]}
    pred = {"d": [Span(0, 6, "x")]}
    s = span_scores(gold, pred)["x"]
    assert s["partial_p"] == pytest.approx(4 / 6)
    assert s["partial_r"] == pytest.approx(1.0)


def test_exact_match_and_missing_documents():
    gold = {"a": [Span(0, 3, "x")], "b": [Span(1, 2, "x")]}
    pred = {"a": [Span(0, 3, "x"), Span(5, 6, "x")]}  # no predictions for b
    s = span_scores(gold, pred)["x"]
    assert (s["exact_p"], s["exact_r"]) == (pytest.approx(0.5), pytest.approx(0.5))


def test_agreement_is_symmetric_in_f1():
    a = [Span(0, 10, "x"), Span(12, 14, "y")]
    b = [Span(2, 8, "x"), Span(12, 15, "y"), Span(30, 31, "x")]
    assert agreement(a, b)["micro"]["partial_f1"] == pytest.approx(agreement(b, a)["micro"]["partial_f1"])


def test_false_alarm_density_and_binary_scores():
    assert false_alarm_density({"a": [Span(0, 1, "x")] * 3}, {"a": 1500, "b": 500}) == pytest.approx(1.5)
    b = binary_scores([1, 1, 0, 0], [1, 0, 1, 0])
    assert b["accuracy"] == 0.5 and b["precision"] == 0.5 and b["recall"] == 0.5
