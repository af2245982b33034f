"""The shared contract: spans, offset maps, the taxonomy loader."""

from __future__ import annotations

import pytest

from huashu.offsets import OffsetMap
from huashu.spans import Document, Span, SpanError, validate_spans
from huashu.taxonomy import TaxonomyError, load_taxonomy, parse_taxonomy


def test_offset_map_round_trip_with_astral_characters():
    raw = "导航\n😀𠮷 正文：最新數據顯示\n页脚"
    keep_start = raw.index("😀")
    keep_end = raw.index("\n页脚")
    clean = raw[keep_start:keep_end]
    m = OffsetMap()
    m.append(0, keep_start, len(clean))
    doc = Document(id="x", text=clean, offsets=m)
    i = clean.index("最新")
    span = Span(i, i + 6, "vague_authority")
    raw_span = doc.to_raw(span)
    assert raw[raw_span.start:raw_span.end] == "最新數據顯示" == clean[span.start:span.end]
    assert OffsetMap.from_json(m.to_json()) == m
    assert Document.from_dict(doc.to_dict()).to_raw(span) == raw_span


def test_offset_map_across_a_deleted_stretch():
    m = OffsetMap()
    m.append(0, 0, 3)
    m.append(3, 10, 4)  # raw[3:10] was deleted
    assert m.span_to_raw(1, 5) == (1, 12)
    with pytest.raises(IndexError):
        m.to_raw(7)


def test_validate_spans_names_the_problem():
    text = "𠮷𠮷abc"
    validate_spans(text, [Span(0, 2, "a"), Span(1, 3, "b")], {"a", "b"})
    with pytest.raises(SpanError, match="past the text"):
        validate_spans(text, [Span(3, 6, "a")])
    with pytest.raises(SpanError, match="unknown label"):
        validate_spans(text, [Span(0, 1, "zzz")], {"a"})
    with pytest.raises(SpanError, match="overlap"):
        validate_spans(text, [Span(0, 2, "a"), Span(1, 3, "a")])


def test_taxonomy_has_the_ten_v1_labels():
    tax = load_taxonomy()
    assert tax.ids == [
        "engagement_bait", "vague_authority", "loaded_metaphor", "loaded_language", "name_calling",
        "exaggeration", "rhetorical_question", "speculation", "inevitability", "clickbait_title",
    ]
    assert len(set(tax.colours.values())) == 10
    assert tax.label2id["engagement_bait"] == 0


def test_taxonomy_rejects_duplicates():
    item = {"id": "a", "zh": "甲", "en": "A", "definition_zh": "x", "definition_en": "x",
            "colour": "#fff", "hotkey": "1"}
    with pytest.raises(TaxonomyError, match="duplicate label"):
        parse_taxonomy({"labels": [item, item]})


def test_review_changes_compares_first_annotation_with_gold():
    """`huashu labels stats` says what review changed: kept, changed/dropped, added, and F1 of the
    first annotation against the gold; double-annotated documents are not reviews of one annotator."""
    from huashu.annotations import GOLD, AnnotationRecord
    from huashu.gold import review_changes

    def rec(doc, who, spans):
        return AnnotationRecord(doc_id=doc, corpus="t", source="x", sha256="0" * 64, annotator=who,
                                spans=[Span(a, b, lb) for a, b, lb in spans])

    first = [(0, 4, "vague_authority"), (10, 12, "loaded_metaphor"), (20, 25, "exaggeration")]
    gold = [(0, 4, "vague_authority"), (10, 13, "loaded_metaphor"), (30, 33, "speculation")]
    records = [
        rec("d1", "annotator-a@x", first),
        rec("d1", "adjudicator-r@x", gold),
        rec("d2", "annotator-a@x", [(0, 2, "name_calling")]),  # two annotators + gold: not a review
        rec("d2", "annotator-b@x", [(0, 2, "name_calling")]),
        rec("d2", GOLD, []),
        rec("d3", "annotator-a@x", [(5, 6, "exaggeration")]),  # not reviewed yet
    ]
    r = review_changes(records)
    assert r["documents"] == 1 and r["first_spans"] == 3 and r["gold_spans"] == 3
    assert (r["kept_exactly"], r["changed_or_dropped"], r["added_or_changed"]) == (1, 2, 2)
    assert r["exact_f1"] == pytest.approx(1 / 3, abs=1e-3)
    assert r["exact_f1"] < r["partial_f1"] < 1.0
    assert review_changes(records[2:])["documents"] == 0
