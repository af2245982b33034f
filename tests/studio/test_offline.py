"""The studio logic that needs no server: splitting, quote anchoring, pulling an export file,
agreement on the store, and the active-learning ranking."""

from __future__ import annotations

import json

import pytest

from huashu.annotations import AnnotationRecord, read_records, write_records
from huashu.spans import Document, Span
from huashu.studio import StudioError
from huashu.studio.agreement import agreement
from huashu.studio.annotate import DocTasks, plan, resolve_quote
from huashu.studio.next import UncertaintyDetector, choose, fallback_signal
from huashu.studio.pull import pull_export
from huashu.studio.push import build_tasks, split_points

TEXT = "第一段😀有分析人士指出。\n第二段𠮷釜底抽薪！\n第三段：麻烦您点击一下“关注”。\n"


def _export(parts: list[str], annotations: dict[int, list[dict]], doc_id: str = "d1") -> list[dict]:
    """An LS JSON export of one document split into ``parts``."""
    full = "".join(parts)
    from huashu.spans import text_hash

    tasks, offset = [], 0
    for i, p in enumerate(parts):
        tasks.append({"id": 100 + i, "data": {"text": p, "doc_id": doc_id, "corpus": "t", "source": "x.txt",
                                              "sha256": text_hash(full), "part": i, "parts": len(parts),
                                              "offset": offset},
                      "annotations": annotations.get(i, []),
                      "drafts": [{"id": 9, "result": [{"type": "labels", "value": {
                          "start": 0, "end": 1, "labels": ["loaded_language"]}}]}]})
        offset += len(p)
    return tasks


def _ann(aid: int, user: int, spans: list[tuple[int, int, str, str]], updated: str = "2026-01-01T00:00:00Z",
         cancelled: bool = False) -> dict:
    return {"id": aid, "completed_by": user, "was_cancelled": cancelled, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": updated, "result": [
                {"from_name": "label", "to_name": "text", "type": "labels",
                 "value": {"start": s, "end": e, "text": t, "labels": [lab]}} for s, e, lab, t in spans]}


def test_split_at_paragraphs_never_inside_a_span():
    text = "甲" * 50 + "\n" + "乙" * 50 + "\n" + "丙" * 50 + "\n"
    parts = split_points(text, 110)
    assert parts == [(0, 102), (102, 153)]
    assert "".join(text[a:b] for a, b in parts) == text
    assert split_points(text, 60) == [(0, 51), (51, 102), (102, 153)]
    # a pre-annotated span across a paragraph boundary is never cut: the cut moves
    parts = split_points(text, 60, [Span(45, 60, "loaded_language")])
    assert any(a <= 45 and 60 <= b for a, b in parts), parts
    assert "".join(text[a:b] for a, b in parts) == text
    # no newline: sentence ends, then hard cuts; always contiguous
    long = "这是一句话。" * 30
    parts = split_points(long, 50)
    assert all(b - a <= 50 for a, b in parts) and "".join(long[a:b] for a, b in parts) == long
    assert all(long[b - 1] == "。" for _, b in parts)


def test_build_tasks_predictions_are_part_relative():
    doc = Document("d", "甲😀段\n" * 3)
    span = Span(8, 10, "loaded_language", 0.8, "r")  # in the third line
    tasks = build_tasks(doc, [span], "rules-1", "t", "s", 5, "label", "text")
    assert len(tasks) == 3
    t = tasks[2]
    assert t["data"]["offset"] == 8
    [item] = t["predictions"][0]["result"]
    assert item["value"]["start"] == 0 and item["value"]["text"] == doc.text[8:10] and item["score"] == 0.8
    assert t["predictions"][0]["model_version"] == "rules-1"


def test_resolve_quote_and_plan_errors():
    text = "釜底抽薪😀，又一次釜底抽薪。"
    assert resolve_quote(text, "釜底抽薪") == [0, 9]  # code points: 😀 is one
    assert resolve_quote(text, "釜底抽薪", prefix="又一次") == [9]
    assert resolve_quote(text, "釜底抽薪", suffix="😀") == [0]
    assert resolve_quote(text, "七寸") == []
    docs = {"d": DocTasks("d", text, [(1, 0, 7), (2, 7, len(text))])}
    labels = {"loaded_metaphor"}
    plans = plan([{"_line": 1, "doc_id": "d", "spans": [
        {"label": "loaded_metaphor", "quote": "釜底抽薪", "prefix": "又一次"}]}], docs, labels)
    by_task = {p.task_id: p for p in plans}
    assert by_task[1].spans == [] and by_task[2].spans == [Span(2, 6, "loaded_metaphor")]
    assert by_task[2].doc_spans == [Span(9, 13, "loaded_metaphor")]
    with pytest.raises(StudioError) as e:
        plan([{"_line": 1, "doc_id": "d", "spans": [
            {"label": "loaded_metaphor", "quote": "釜底抽薪"},
            {"label": "loaded_metaphor", "quote": "七寸"},
            {"label": "nope", "quote": "又"},
            {"label": "loaded_metaphor", "start": 5, "end": 9}]},
            {"_line": 2, "doc_id": "missing", "spans": []}], docs, labels)
    msg = str(e.value)
    assert "ambiguous (2 places" in msg and "'七寸' not found" in msg and "unknown label 'nope'" in msg
    assert "crosses a task boundary" in msg and "doc missing" in msg


def test_pull_export_joins_parts_ignores_drafts_and_cancelled(tmp_path):
    parts = ["第一段😀有分析人士指出。\n", "第二段𠮷釜底抽薪！\n"]
    full = "".join(parts)
    export = _export(parts, {
        0: [_ann(1, 7, [(4, 11, "vague_authority", "有分析人士指出")]),
            _ann(2, 8, [], cancelled=True)],
        1: [_ann(3, 7, [(4, 8, "loaded_metaphor", "釜底抽薪")])],
    })
    report = pull_export(export, 5, {7: "a@x.org"}, tmp_path)
    [rec] = read_records(tmp_path / "t.jsonl")
    assert rec.annotator == "a@x.org" and rec.ls == {"project": 5, "task": [100, 101], "annotation": [1, 3]}
    assert [(full[s.start:s.end], s.label) for s in rec.spans] == [
        ("有分析人士指出", "vague_authority"), ("釜底抽薪", "loaded_metaphor")]
    assert rec.spans[1].start == full.index("釜底抽薪")
    assert any("cancelled" in s for s in report.skipped) and report.records == 1
    before = (tmp_path / "t.jsonl").read_bytes()
    again = pull_export(export, 5, {7: "a@x.org"}, tmp_path)
    assert (tmp_path / "t.jsonl").read_bytes() == before and again.files == [] and again.unchanged == 1

    # changed in LS → history; gone from LS → kept and reported
    export[1]["annotations"] = [_ann(3, 7, [(0, 3, "loaded_language", "第二段")],
                                     updated="2026-02-01T00:00:00Z")]
    rep = pull_export(export, 5, {7: "a@x.org"}, tmp_path)
    [rec] = read_records(tmp_path / "t.jsonl")
    assert rep.changed == [("t", "d1", "a@x.org")] and len(rec.history) == 1
    assert rec.history[0]["spans"][1] == {"start": full.index("釜底抽薪"), "end": full.index("釜底抽薪") + 4,
                                          "label": "loaded_metaphor"}
    for t in export:
        t["annotations"] = []
    rep = pull_export(export, 5, {7: "a@x.org"}, tmp_path)
    assert rep.removed_in_ls == [("t", "d1", "a@x.org")]
    assert len(read_records(tmp_path / "t.jsonl")) == 1


def test_pull_export_errors_name_task_and_span(tmp_path):
    parts = ["第一段😀有分析人士指出。\n"]
    store = tmp_path / "t.jsonl"
    other = AnnotationRecord("other", "t", "", "h", "z@x.org", [Span(0, 1, "loaded_language")])
    write_records(store, [other])
    before = store.read_bytes()
    cases = {
        # UTF-16-style offsets (the emoji counted twice) are caught by the region text
        "does not match the task text": [(5, 12, "vague_authority", "有分析人士指出")],
        "outside the task text": [(4, 99, "vague_authority", "x")],
        "not in labels/taxonomy.yaml": [(4, 11, "made_up", "有分析人士指出")],
        "spans overlap": [(4, 11, "vague_authority", "有分析人士指出"),
                          (5, 9, "vague_authority", "分析人士")],
    }
    for expected, spans in cases.items():
        export = _export(parts, {0: [_ann(1, 7, spans)]})
        with pytest.raises(StudioError) as e:
            pull_export(export, 5, {7: "a@x.org"}, tmp_path)
        assert expected in str(e.value) and "task 100" in str(e.value) and "nothing written" in str(e.value)
        assert store.read_bytes() == before
    bad_hash = _export(parts, {0: [_ann(1, 7, [])]})
    bad_hash[0]["data"]["sha256"] = "0" * 64
    with pytest.raises(StudioError, match="does not match its sha256"):
        pull_export(bad_hash, 5, {}, tmp_path)


def test_agreement_pairs_and_disagreements():
    def rec(who: str, spans: list[Span]) -> AnnotationRecord:
        return AnnotationRecord("d", "t", "", "h", who, spans)

    text = "有分析人士指出，釜底抽薪。"
    docs = {"d": Document("d", text)}
    docs["d"].meta = {}
    a = rec("a", [Span(0, 7, "vague_authority"), Span(8, 12, "loaded_metaphor")])
    b = rec("b", [Span(0, 3, "vague_authority")])
    gold = rec("gold", [Span(0, 7, "vague_authority")])
    import hashlib

    for r in (a, b, gold):
        r.sha256 = hashlib.sha256(text.encode()).hexdigest()
    rep = agreement([a, b, gold], docs)
    [pair] = rep.pairs
    assert (pair.a, pair.b, pair.docs) == ("a", "b", 1)
    va = pair.scores["vague_authority"]
    # P over b: 3/3 = 1; R over a: 3/7 → F1 = 2·(3/7)/(1 + 3/7) = 0.6
    assert va["partial_f1"] == pytest.approx(0.6) and va["exact_f1"] == 0
    assert {(d["label"], tuple(s["text"] for s in d["a"]), tuple(s["text"] for s in d["b"]))
            for d in rep.disagreements} == {("vague_authority", ("有分析人士指出",), ("有分析",)),
                                            ("loaded_metaphor", ("釜底抽薪",), ())}
    assert rep.to_dict()["documents"] == 1 and json.dumps(rep.to_dict(), ensure_ascii=False)


class _UncertainDetector:
    """A detector with token_uncertainty (the shape the model exposes): uncertainty = the share of
    '?' characters, so the test controls the ranking."""

    name, version = "stub", "1"

    def detect(self, doc: Document) -> list[Span]:
        return []

    def detect_batch(self, docs: list[Document]) -> list[list[Span]]:
        return [[] for _ in docs]

    def token_uncertainty(self, doc: Document) -> float:
        return doc.text.count("？") / len(doc.text)


def test_next_uses_model_uncertainty_and_diversity(tmp_path):
    det = _UncertainDetector()
    assert isinstance(det, UncertaintyDetector)
    base = "市场为何波动？投资者怎么办？" * 5
    docs = [Document("dup1", base), Document("dup2", base + "。"),
            Document("other", "天气为何转凉？冬天来了吗？今年会下雪？"), Document("calm", "明天多云。")]
    choice = choose(docs, det, 2, lam=0.5, store_dir=tmp_path, progress=False)
    assert choice.uses_model_uncertainty and "model uncertainty" in choice.signal and not choice.notes
    picked = [c.doc.id for c in choice.picked]
    assert picked[0] in ("dup1", "dup2", "other") and "calm" not in picked
    assert not {"dup1", "dup2"} <= set(picked), "MMR must not pick both near-duplicates"
    assert choice.picked[1].nearest_id == picked[0] and choice.picked[0].nearest_id == ""
    # documents already in the store are not candidates
    write_records(tmp_path / "t.jsonl", [AnnotationRecord("other", "t", "", "h", "a", [])])
    assert "other" not in [c.doc.id for c in choose(docs, det, 4, store_dir=tmp_path, progress=False).picked]


def test_next_fallback_signal_is_density_with_clickbait_prior():
    doc = Document("d", "x" * 1000)
    spans = [Span(i, i + 1, "loaded_language") for i in range(0, 50, 10)]
    plain = fallback_signal(doc, spans, {"clickbait_title"})
    with_title = fallback_signal(doc, [*spans, Span(0, 5, "clickbait_title")], {"clickbait_title"})
    assert 0 < plain < 1 and with_title == pytest.approx(plain + 0.3)
    assert fallback_signal(doc, [], {"clickbait_title"}) == 0
