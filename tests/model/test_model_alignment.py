"""Character-level tokenisation: every span edge is a token edge, on real seed text."""

from __future__ import annotations

import random

import numpy as np

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
