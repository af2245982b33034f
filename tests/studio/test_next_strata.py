"""Stratified `studio next` without a server: strata from document fields, quotas and the even split
of --k, --skip-longer, the --selection-out rows, and the CLI's one-line errors (--dry-run)."""

from __future__ import annotations

import json

import pytest

from huashu.ingest import write_jsonl
from huashu.spans import Document, Span
from huashu.studio import StudioError
from huashu.studio.next import choose, field_value, parse_quotas, plan, split_evenly, stratum_of
from huashu.studio.push import load_documents

from .conftest import REPO, huashu, write_hancd_like


class _Uncertain:
    """Uncertainty = share of '？' in the text; records every document it scores."""

    def __init__(self) -> None:
        self.scored: list[str] = []

    def detect_batch(self, docs: list[Document]) -> list[list[Span]]:
        self.scored += [d.id for d in docs]
        return [[Span(0, 1, "loaded_language")] for _ in docs]

    def token_uncertainty(self, doc: Document) -> float:
        return doc.text.count("？") / len(doc.text)


def _doc(doc_id: str, text: str, **meta) -> Document:
    return Document(doc_id, text, title=None, source="", meta={"format": "record", **meta})


@pytest.fixture
def hancd_pool(tmp_path):
    d = tmp_path / "pool"
    d.mkdir()
    write_hancd_like(d / "sina.csv", 6, long_rows=(4,))
    write_hancd_like(d / "tencent.csv", 9)
    return d


def test_source_and_meta_fields_from_every_input_kind(tmp_path, hancd_pool, monkeypatch):
    docs = {d.id: d for d in load_documents([hancd_pool])}
    assert {field_value(d, "source") for d in docs.values()} == {"sina", "tencent"}
    assert field_value(docs["sina-0000"], "clickbait_label") == "1"
    assert field_value(docs["sina-0001"], "clickbait_label") == "0"
    assert stratum_of(docs["tencent-0002"], ["source", "clickbait_label"]) == "tencent/1"
    # the CSV's own source column stays reachable as meta.source
    assert field_value(docs["sina-0000"], "meta.source") == "sina"

    # a raw JSONL of records: the file's stem; no label → stratum value "none"
    raw = tmp_path / "wire_extra.jsonl"
    rec = {"id": "w1", "title": "通知", "text": "新华社北京电 记者报道，会议今日召开。", "source": "https://example.org/a"}
    raw.write_text(json.dumps(rec, ensure_ascii=False) + "\n", encoding="utf-8")
    [rec] = load_documents([raw])
    assert field_value(rec, "source") == "wire_extra"
    assert stratum_of(rec, ["source", "clickbait_label"]) == "wire_extra/none"
    assert field_value(rec, "wire") == "1" and field_value(docs["sina-0000"], "wire") == "0"

    # `huashu ingest` output keeps the original file's meta
    ingested = tmp_path / "ingested.jsonl"
    write_jsonl([docs["tencent-0003"]], ingested)
    [again] = load_documents([ingested])
    assert (field_value(again, "source"), field_value(again, "clickbait_label")) == ("tencent", "0")

    # a directory of .txt files (one document each): the directory's name
    txt_dir = tmp_path / "plain_reports"
    txt_dir.mkdir()
    (txt_dir / "a.txt").write_text("本市地铁新线路将于下月开通运营。\n", encoding="utf-8")
    [txt] = load_documents([txt_dir])
    assert field_value(txt, "source") == "plain_reports" and field_value(txt, "clickbait_label") is None

    # inside the HanCD corpus dir: corpus_source names the file
    corpus = tmp_path / "hancd"
    corpus.mkdir()
    monkeypatch.setenv("HUASHU_HANCD_DIR", str(corpus))
    write_hancd_like(corpus / "sina.csv", 2)
    first = load_documents([corpus / "sina.csv"])[0]
    assert first.meta["corpus_source"] == "sina.csv" and field_value(first, "source") == "sina"

    # nothing but an id: its prefix
    assert field_value(Document("tencent-0042", "x"), "source") == "tencent"
    assert field_value(Document("loose", "x"), "source") is None


def test_split_evenly_remainder_to_largest_and_caps():
    assert split_evenly({"a": 10, "b": 20, "c": 3}, 10) == {"a": 3, "b": 4, "c": 3}
    assert split_evenly({"a": 10, "b": 20, "c": 3}, 11) == {"a": 4, "b": 4, "c": 3}
    # what the small stratum cannot take goes to the others, evenly
    assert split_evenly({"a": 10, "b": 20, "c": 3}, 21) == {"a": 9, "b": 9, "c": 3}
    assert split_evenly({"a": 10, "b": 20, "c": 3}, 25) == {"a": 10, "b": 12, "c": 3}
    assert split_evenly({"a": 10, "b": 20, "c": 3}, 100) == {"a": 10, "b": 20, "c": 3}
    assert split_evenly({"a": 5, "empty": 0}, 4) == {"a": 4, "empty": 0}
    assert split_evenly({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}


def _pool() -> list[Document]:
    q = "市场为何波动？投资者怎么办？"
    return [
        _doc("s-dup1", q * 4, src="s", cb=1), _doc("s-dup2", q * 4 + "。", src="s", cb=1),
        _doc("s-other", "天气为何转凉？冬天来了吗？今年会下雪？", src="s", cb=1),
        _doc("s-calm", "明天多云。", src="s", cb=1),
        _doc("s-0a", "油价会涨吗？专家认为会。", src="s", cb=0),
        _doc("s-0b", "地铁新线下月开通。", src="s", cb=0),
        _doc("t-1a", "谁在炒作？", src="t", cb=1), _doc("t-1b", "公园银杏黄了。", src="t", cb=1),
        _doc("t-0a", "会议今日召开？", src="t", cb=0), _doc("t-0b", "新线开通。", src="t", cb=0),
        _doc("t-0c", "游客络绎不绝。", src="t", cb=0),
    ]


def test_quotas_honoured_within_strata_and_pool_scored_once(tmp_path):
    det = _Uncertain()
    choice = choose(_pool(), det, None, lam=0.5, store_dir=tmp_path, progress=False, stratify=["src", "cb"],
                    quotas={"s/1": 2, "t/0": 1, "t/1": 0})
    got = {st.key: (st.pool, st.quota, st.picked) for st in choice.strata}
    assert got == {"s/0": (2, 0, 0), "s/1": (4, 2, 2), "t/0": (3, 1, 1), "t/1": (2, 0, 0)}
    by = [(c.stratum, c.doc.id) for c in choice.picked]
    assert [s for s, _ in by] == ["s/1", "s/1", "t/0"]
    s1 = [i for s, i in by if s == "s/1"]
    assert "s-calm" not in s1 and not {"s-dup1", "s-dup2"} <= set(s1), "MMR within the stratum"
    assert by[2] == ("t/0", "t-0a"), "the most uncertain of its stratum"
    # one pass, and only over the strata that pick something
    wanted = [d.id for d in _pool() if (d.meta["src"], d.meta["cb"]) in {("s", 1), ("t", 0)}]
    assert sorted(det.scored) == sorted(wanted)
    assert any(n.startswith("no quota for stratum s/0:") for n in choice.notes), "t/1 has its quota 0"
    d = choice.to_dict()
    assert d["stratify"] == ["src", "cb"] and [p["stratum"] for p in d["picked"]] == ["s/1", "s/1", "t/0"]
    assert d["strata"][1] == {"stratum": "s/1", "pool": 4, "excluded_already_labelled_or_pushed": 0,
                              "skipped_longer": 0, "candidates": 4, "quota": 2, "picked": 2}


def test_k_split_evenly_over_the_strata_present(tmp_path):
    docs = _pool()
    choice = choose(docs, _Uncertain(), 7, store_dir=tmp_path, progress=False, stratify=["src"])
    assert {st.key: st.picked for st in choice.strata} == {"s": 4, "t": 3}, "remainder to the larger"
    assert len(choice.picked) == 7 and len({c.doc.id for c in choice.picked}) == 7
    # a stratum already labelled does not count as present; its share goes to the others
    from huashu.annotations import AnnotationRecord, write_records

    write_records(tmp_path / "t.jsonl", [AnnotationRecord(d.id, "t", "", "h", "a", []) for d in docs
                                         if d.meta["src"] == "t"])
    choice = choose(docs, _Uncertain(), 4, store_dir=tmp_path, progress=False, stratify=["src"])
    assert {st.key: (st.excluded, st.picked) for st in choice.strata} == {"s": (0, 4), "t": (5, 0)}
    # without --stratify: one pool, no strata in the report, stratum None per pick
    plain = choose(docs, _Uncertain(), 3, store_dir=tmp_path / "none", progress=False)
    assert plain.strata == [] and len(plain.picked) == 3 and {c.stratum for c in plain.picked} == {None}


def test_skip_longer_leaves_long_documents_out(tmp_path):
    docs = [*_pool(), _doc("s-long", "为什么？" * 100, src="s", cb=1)]
    assert choose(docs, _Uncertain(), 1, store_dir=tmp_path, progress=False).picked[0].doc.id == "s-long"
    det = _Uncertain()
    choice = choose(docs, det, 3, store_dir=tmp_path, progress=False, stratify=["src"], skip_longer=100)
    assert "s-long" not in det.scored and "s-long" not in {c.doc.id for c in choice.picked}
    assert choice.skipped_longer == 1 and choice.candidates == len(docs) - 1
    assert {st.key: st.skipped_longer for st in choice.strata} == {"s": 1, "t": 0}
    assert all(len(c.doc.text) <= 100 for c in choice.picked)


def test_bad_strata_options_are_one_line_errors():
    docs = _pool()
    with pytest.raises(StudioError, match=r"no stratum|does not have") as e:
        plan(docs, None, ["src", "cb"], {"s/2": 3})
    msg = str(e.value)
    assert "\n" not in msg and "s/0 (2 documents, 2 candidates)" in msg and "t/1 (2 documents" in msg
    with pytest.raises(StudioError, match="--k 5 disagrees with the quotas, which add up to 3"):
        plan(docs, 5, ["src"], {"s": 3})
    assert plan(docs, 3, ["src"], {"s": 3})[0]["s"].quota == 3  # agreeing --k is fine
    with pytest.raises(StudioError, match=r"more than a stratum has: t=9 \(has 5 candidates\)"):
        plan(docs, None, ["src"], {"t": 9})
    with pytest.raises(StudioError, match="--stratify colour: no document has this field"):
        plan(docs, 4, ["colour"])
    with pytest.raises(StudioError, match="needs --stratify"):
        parse_quotas(["s=1"], [])
    with pytest.raises(StudioError, match="2 value"):
        parse_quotas(["s/1=1"], ["src"])
    with pytest.raises(StudioError, match="VALUE=K"):
        parse_quotas(["s=-1"], ["src"])
    with pytest.raises(StudioError, match="twice"):
        parse_quotas(["s=1", "s=2"], ["src"])
    with pytest.raises(StudioError, match="--skip-longer must be positive"):
        plan(docs, 4, [], None, skip_longer=0)
    assert parse_quotas(["sina/0=45", "tencent/1=37"], ["source", "clickbait_label"]) == {
        "sina/0": 45, "tencent/1": 37}


def test_selection_rows_have_the_batch_file_keys_and_no_text(tmp_path):
    docs = _pool()
    choice = choose(docs, _Uncertain(), 4, store_dir=tmp_path, progress=False, stratify=["src", "cb"])
    out = tmp_path / "sel" / "batch.selection.jsonl"
    choice.write_selection(out)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    batch4 = json.loads((REPO / "labels" / "batches" / "batch4.selection.jsonl").read_text().splitlines()[0])
    # split and double are decided after selection (splits.yaml, the double-annotation draw)
    assert set(rows[0]) == set(batch4) - {"split", "double"}
    assert [r["doc_id"] for r in rows] == [c.doc.id for c in choice.picked]
    assert {r["stratum"] for r in rows} == {"s/0", "s/1", "t/0", "t/1"}
    assert rows[0]["signal_kind"] == "model uncertainty (token_uncertainty)" and rows[0]["lambda"] == 0.7
    raw = out.read_text(encoding="utf-8")
    assert not any(d.text[:4] in raw for d in docs), "no article text in the selection file"


def test_cli_stratified_dry_run_json_and_selection_out(tmp_path, hancd_pool):
    sel = tmp_path / "out" / "sel.jsonl"
    run = huashu("studio", "next", "--pool", str(hancd_pool), "--detector", "rules", "--dry-run", "--json",
                 "--stratify", "source", "--stratify", "clickbait_label", "--quota", "sina/1=2",
                 "--quota", "tencent/0=3", "--quota", "tencent/1=1", "--skip-longer", "300",
                 "--selection-out", str(sel), "--annotations-dir", str(tmp_path / "empty"))
    assert run.returncode == 0, run.stderr
    choice = json.loads(run.stdout)
    strata = {s["stratum"]: s for s in choice["strata"]}
    assert {k: (s["pool"], s["skipped_longer"], s["quota"], s["picked"]) for k, s in strata.items()} == {
        "sina/0": (3, 0, 0, 0), "sina/1": (3, 1, 2, 2), "tencent/0": (4, 0, 3, 3), "tencent/1": (5, 0, 1, 1)}
    assert [p["stratum"] for p in choice["picked"]] == ["sina/1"] * 2 + ["tencent/0"] * 3 + ["tencent/1"]
    assert "sina-0004" not in {p["doc_id"] for p in choice["picked"]}, "the long row is skipped"
    rows = [json.loads(x) for x in sel.read_text(encoding="utf-8").splitlines()]
    assert [(r["doc_id"], r["stratum"]) for r in rows] == [(p["doc_id"], p["stratum"])
                                                           for p in choice["picked"]]
    assert all("title" not in r and "text" not in r for r in rows)
    assert rows[0]["model_version"].startswith("rules") and "NOT model uncertainty" in rows[0]["signal_kind"]

    # the printed table gains a stratum column and a per-stratum summary
    run = huashu("studio", "next", "--pool", str(hancd_pool), "--detector", "rules", "--dry-run", "--k", "5",
                 "--stratify", "source", "--annotations-dir", str(tmp_path / "empty"))
    assert run.returncode == 0, run.stderr
    assert "strata by source" in run.stdout and "stratum" in run.stdout
    assert "next batch (5)" in run.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["--stratify", "source", "--stratify", "clickbait_label", "--quota", "sina/2=3"],
     "huashu: error: --quota names stratum sina/2 which the pool does not have; strata: "
     "sina/0 (3 documents, 3 candidates), sina/1 (3 documents, 3 candidates), "
     "tencent/0 (4 documents, 4 candidates), tencent/1 (5 documents, 5 candidates)"),
    (["--stratify", "source", "--quota", "sina=2", "--k", "5"],
     "huashu: error: --k 5 disagrees with the quotas, which add up to 2"),
    (["--stratify", "genre"], "huashu: error: --stratify genre: no document has this field"),
])
def test_cli_bad_strata_options_exit_2_with_one_line(tmp_path, hancd_pool, args, expected):
    run = huashu("studio", "next", "--pool", str(hancd_pool), "--detector", "rules", "--dry-run",
                 "--annotations-dir", str(tmp_path / "empty"), *args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    [line] = run.stderr.strip().splitlines()
    assert line.startswith(expected), line
