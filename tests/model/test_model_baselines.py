"""The TF-IDF + logistic-regression baselines fit and find what they were taught."""

from __future__ import annotations

from model_synth import make_examples, make_headlines

from huashu.metrics import span_scores
from huashu.train.baselines import TfidfClauseTagger, TfidfHeadline, clauses
from huashu.train.dataset import span_labels


def test_clauses_trim_and_cover():
    text = " 有分析人士指出，这是釜底抽薪！\n难道不是吗？"
    cl = clauses(text)
    assert [text[a:b] for a, b in cl] == ["有分析人士指出，", "这是釜底抽薪！", "难道不是吗？"]


def test_tfidf_tagger_learns_clause_labels():
    train, test = make_examples(30, seed=1), make_examples(10, seed=2, prefix="t")
    tagger = TfidfClauseTagger(span_labels()).fit([e.doc for e in train], [e.spans for e in train])
    assert "engagement_bait" in tagger.models
    pred = {
        e.doc.id: spans for e, spans in zip(test, tagger.detect_batch([e.doc for e in test]), strict=True)
    }
    s = span_scores({e.doc.id: e.spans for e in test}, pred, span_labels())
    assert s["micro"]["partial_r"] > 0.6
    assert s["micro"]["partial_f1"] > 0.4


def test_tfidf_headline_baseline():
    heads = make_headlines(80)
    clf = TfidfHeadline().fit([h.text for h in heads[:60]], [h.label for h in heads[:60]])
    p = clf.predict_proba([h.text for h in heads[60:]])
    acc = sum(int(q >= 0.5) == h.label for q, h in zip(p, heads[60:], strict=True)) / 20
    assert acc >= 0.9
