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


def test_choose_sources_maximises_the_pooled_micro_f1_not_each_label():
    from huashu.metrics import choose_sources

    x_gold = [Span(4 * k, 4 * k + 2, "x") for k in range(10)]
    gold = {"d": [*x_gold, Span(100, 102, "y")]}
    # A: every x right; y right once but with 99 false alarms (y F1 0.02 beats B's 0.0)
    a = {"d": x_gold + [Span(100, 102, "y")] + [Span(200 + 3 * k, 201 + 3 * k, "y") for k in range(99)]}
    b: dict[str, list[Span]] = {"d": []}
    scores = {"A": span_scores(gold, a, ["x", "y"]), "B": span_scores(gold, b, ["x", "y"])}
    assert scores["A"]["y"]["partial_f1"] > scores["B"]["y"]["partial_f1"]  # per label, A wins both
    choice, f1 = choose_sources(scores, ["x", "y"])
    assert choice == {"x": "A", "y": "B"}
    combined = {"d": x_gold}
    assert f1 == pytest.approx(span_scores(gold, combined, ["x", "y"])["micro"]["partial_f1"])
    assert f1 > scores["A"]["micro"]["partial_f1"] + 0.5


def test_choose_sources_f1_is_that_of_the_combined_predictions():
    import random

    from huashu.metrics import choose_sources

    rng = random.Random(7)
    labels = ["x", "y", "z"]

    def spans() -> list[Span]:
        out = []
        for lb in labels:
            starts = sorted(rng.sample(range(0, 200, 5), rng.randint(0, 8)))
            out += [Span(s, s + rng.randint(1, 4), lb) for s in starts]
        return out

    for _ in range(20):
        gold = {d: spans() for d in "abc"}
        preds = {src: {d: spans() for d in "abc"} for src in ("p", "q", "r")}
        scores = {src: span_scores(gold, p, labels) for src, p in preds.items()}
        choice, f1 = choose_sources(scores, labels)
        combined = {d: [s for src in preds for s in preds[src][d] if choice[s.label] == src] for d in gold}
        assert f1 == pytest.approx(span_scores(gold, combined, labels)["micro"]["partial_f1"])
        assert f1 >= max(s["micro"]["partial_f1"] for s in scores.values()) - 1e-12
        for lb in labels:  # no single change of one label's source does better
            for src in preds:
                alt = {**choice, lb: src}
                other = {d: [s for k in preds for s in preds[k][d] if alt[s.label] == k] for d in gold}
                assert span_scores(gold, other, labels)["micro"]["partial_f1"] <= f1 + 1e-9


def test_choose_sources_respects_the_allowed_sources_per_label():
    from huashu.metrics import choose_sources

    x_gold = [Span(4 * k, 4 * k + 2, "x") for k in range(10)]
    gold = {"d": [*x_gold, Span(100, 102, "y")]}
    good = {"d": [*x_gold, Span(100, 102, "y")]}  # perfect, but say it fragments x elsewhere
    weak = {"d": x_gold[:3]}
    scores = {"rules": span_scores(gold, weak, ["x", "y"]), "model": span_scores(gold, good, ["x", "y"])}
    assert choose_sources(scores, ["x", "y"])[0] == {"x": "model", "y": "model"}
    choice, f1 = choose_sources(scores, ["x", "y"], allowed={"x": ["rules"]})
    assert choice == {"x": "rules", "y": "model"}  # y may take any source, x only the rules
    combined = {"d": [*x_gold[:3], Span(100, 102, "y")]}
    assert f1 == pytest.approx(span_scores(gold, combined, ["x", "y"])["micro"]["partial_f1"])
    with pytest.raises(ValueError, match="no allowed source"):
        choose_sources(scores, ["x", "y"], allowed={"x": []})
