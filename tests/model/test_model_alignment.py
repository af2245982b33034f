"""Character-level tokenisation: every span edge is a token edge, on real seed text."""

from __future__ import annotations

import random

import numpy as np
import pytest

from huashu.inference import char_targets, decode_spans, encode_text
from huashu.metrics import span_scores
from huashu.spans import Span

LABELS = ["a", "b", "c"]


def _ascii(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _random_spans(text: str, rng: random.Random, n: int) -> list[Span]:
    """Non-overlapping (per label) spans with non-space edges, 1–12 characters long, whose edges
    do not cut an ASCII letter/digit run (those stay one pre-token: "2025", "GDP")."""
    out: list[Span] = []
    for label in LABELS:
        taken: list[Span] = []
        for _ in range(n):
            start = rng.randrange(len(text))
            end = min(len(text), start + rng.randint(1, 12))
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            while 0 < start < len(text) and _ascii(text[start]) and _ascii(text[start - 1]):
                start -= 1
            while end < len(text) and _ascii(text[end]) and _ascii(text[end - 1]):
                end += 1
            if end <= start:
                continue
            s = Span(start, end, label)
            if any(s.overlaps(t) or s.start == t.end or t.start == s.end for t in taken):
                continue
            taken.append(s)
        out.extend(taken)
    return out


def _round_trip(tokenizer, text: str, spans: list[Span]) -> list[Span]:
    enc = encode_text(tokenizer, text)
    y = char_targets(enc, spans, LABELS).astype(np.float32)
    return decode_spans(y, enc.offsets, LABELS, {})


def test_cjk_characters_are_single_tokens(tokenizer):
    text = "在閱讀此文前，麻煩您點擊一下“關注”😀𠮷 Trump说2025年持续下降。"
    enc = encode_text(tokenizer, text)
    pieces = [text[a:b] for a, b in enc.offsets]
    cjk = [p for p in pieces if any("\u4e00" <= c <= "\u9fff" for c in p)]
    assert all(len(p) == 1 for p in cjk), cjk
    assert "持" in pieces and "续" in pieces  # 持续 is one piece in the upstream tokenisation
    assert "𠮷" in pieces and "😀" in pieces  # astral characters keep their own code point
    t = text.index("Trump")  # a Latin run may be several pieces, but never merged with its neighbours
    assert {a for a, _ in enc.offsets} >= {t, t + 5} and {b for _, b in enc.offsets} >= {t, t + 5}
    # offsets are code points into the original (traditional) text
    for a, b in enc.offsets:
        assert 0 <= a < b <= len(text)


def test_perfect_tagger_round_trip_on_seeds_is_exact(tokenizer, seed_docs):
    rng = random.Random(7)
    gold, pred = {}, {}
    for doc in seed_docs:
        spans = _random_spans(doc.text, rng, 60)
        gold[doc.id] = spans
        pred[doc.id] = _round_trip(tokenizer, doc.text, spans)
    scores = span_scores(gold, pred, LABELS)
    assert scores["micro"]["n_gold"] > 500
    assert scores["micro"]["exact_f1"] == 1.0, scores["micro"]


def test_rules_spans_on_seeds_round_trip_exactly(tokenizer, seed_docs):
    from huashu.detector import load_detector

    rules = load_detector("rules")
    labels = sorted({s.label for spans in rules.detect_batch(seed_docs) for s in spans})
    gold, pred = {}, {}
    for doc, spans in zip(seed_docs, rules.detect_batch(seed_docs), strict=True):
        enc = encode_text(tokenizer, doc.text)
        y = char_targets(enc, spans, labels).astype(np.float32)
        gold[doc.id] = spans
        pred[doc.id] = decode_spans(y, enc.offsets, labels, {})
    scores = span_scores(gold, pred, labels)
    assert scores["micro"]["n_gold"] >= 20
    assert scores["micro"]["exact_f1"] == 1.0


def test_round_trip_with_emoji_astral_and_traditional(tokenizer):
    text = "標題：😀大事件\n據了解，𠮷野家的「釜底抽薪」之計🇨🇳真的有用嗎？"
    spans = [
        Span(text.index("據了解"), text.index("據了解") + 3, "a"),
        Span(text.index("𠮷"), text.index("𠮷") + 3, "b"),
        Span(text.index("釜底抽薪"), text.index("釜底抽薪") + 4, "c"),
        Span(text.index("「"), text.index("」") + 1, "a"),
        Span(text.index("🇨🇳"), len(text), "b"),
    ]
    got = _round_trip(tokenizer, text, spans)
    assert sorted((s.start, s.end, s.label) for s in got) == sorted((s.start, s.end, s.label) for s in spans)


def _decode_reference(probs, offsets, labels, thresholds):
    """The definition of decode_spans, token by token (the vectorised one must match it)."""
    n_labels, out = len(labels), []
    for k, label in enumerate(labels):
        th = float(thresholds.get(label, 0.5))
        inside, begin, run = probs[:, k], probs[:, n_labels + k], []
        for i in range(len(offsets)):
            if inside[i] >= th:
                if run and begin[i] >= th and begin[i] > inside[i] * 0.5:
                    out.append((offsets[run[0]][0], offsets[run[-1]][1], label, float(inside[run].mean())))
                    run = []
                run.append(i)
            else:
                if run:
                    out.append((offsets[run[0]][0], offsets[run[-1]][1], label, float(inside[run].mean())))
                run = []
        if run:
            out.append((offsets[run[0]][0], offsets[run[-1]][1], label, float(inside[run].mean())))
    return sorted(Span(a, b, lb, sc, "model") for a, b, lb, sc in out)


@pytest.mark.parametrize("seed", range(6))
def test_vectorised_decode_matches_the_token_by_token_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    labels = ["a", "b", "c"]
    # runs of high and low probabilities, with begin spikes inside runs and at the edges
    probs = (rng.random((n, 2 * len(labels))) ** rng.choice([0.3, 1.0, 3.0], size=(n, 1))).astype(np.float32)
    widths = rng.integers(1, 3, size=n)  # tokens of 1–2 characters, as after splitting CJK
    ends = np.cumsum(widths)
    offsets = [(int(e - w), int(e)) for e, w in zip(ends, widths, strict=True)]
    thresholds = {"a": 0.5, "b": 0.3, "c": 0.8}
    got = decode_spans(probs, offsets, labels, thresholds)
    want = _decode_reference(probs, offsets, labels, thresholds)
    assert [(s.start, s.end, s.label) for s in got] == [(s.start, s.end, s.label) for s in want]
    assert [s.score for s in got] == pytest.approx([s.score for s in want], abs=1e-6)
    assert decode_spans(probs[:0], [], labels, thresholds) == []
