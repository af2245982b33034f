"""`huashu score` end to end (subprocess, real files) and the scoring contract object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from huashu.ingest import ingest_text
from huashu.rules import RulesDetector
from huashu.scoring import ScoringError, article_score, score_document, score_documents
from huashu.spans import Document, Span
from huashu.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
SEEDS = sorted((REPO / "seeds").glob("*.txt"))
CONTRACT = {"id", "spans", "summary", "coverage", "article_score", "explanation", "headline", "model",
            "elapsed_ms"}


def run_score(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m huashu.cli score ...` with no release model, so the default is the rules detector."""
    env = {**os.environ, "HUASHU_MODEL": str(tmp_path / "no-model"), "COLUMNS": "100", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "huashu.cli", "score", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300)


def _lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def seed_json(tmp_path_factory) -> list[dict]:
    out = run_score(*map(str, SEEDS), "--json", tmp_path=tmp_path_factory.mktemp("score"))
    assert out.returncode == 0, out.stderr
    return _lines(out.stdout)  # every stdout line must be JSON


def test_json_lines_follow_the_contract(seed_json):
    assert [r["id"] for r in seed_json] == [p.stem for p in SEEDS]
    labels = set(load_taxonomy().ids)
    for r in seed_json:
        assert CONTRACT <= r.keys()
        assert r["model"]["id"] == "rules" and r["model"]["version"]
        assert set(r["summary"]) == labels
        assert sum(v["count"] for v in r["summary"].values()) == len(r["spans"])
        assert 0.0 <= r["coverage"] <= 1.0 and 0.0 <= r["article_score"] <= 1.0
        assert isinstance(r["explanation"], str) and r["explanation"]
        assert r["elapsed_ms"] >= 0
        for s in r["spans"]:
            assert {"start", "end", "label", "score", "text"} <= s.keys()
            assert s["label"] in labels and 0 < s["score"] <= 1


def test_json_offsets_point_into_the_raw_files(seed_json):
    for r, path in zip(seed_json, SEEDS, strict=True):
        raw = path.read_text(encoding="utf-8")
        assert r["spans"], f"no devices found in {path.name}"
        for s in r["spans"]:
            assert raw[s["start"]:s["end"]] == s["text"], (path.name, s)


def test_seed_000_devices(seed_json):
    r = seed_json[0]
    by_label: dict[str, list[str]] = {}
    for s in r["spans"]:
        by_label.setdefault(s["label"], []).append(s["text"])
    assert any("關注" in t for t in by_label.get("engagement_bait", []))
    assert "最新數據顯示" in by_label.get("vague_authority", [])
    assert any(t.endswith("釜底抽薪?") for t in by_label.get("rhetorical_question", []))
    assert r["headline"] is None  # 000 has no headline


def test_headlines_in_json(seed_json):
    heads = {r["id"][:3]: r["headline"] for r in seed_json}
    assert heads["004"]["text"].startswith("特朗普抵京前") and heads["004"]["clickbait_probability"] >= 0.5
    assert heads["002"]["clickbait_probability"] < 0.5
    labels_004 = [s["label"] for s in seed_json[4]["spans"]]
    assert "clickbait_title" in labels_004


def test_seed_headline_sources_in_json(seed_json):
    heads = {r["id"][:3]: r["headline"] for r in seed_json}
    assert heads["000"] is None and heads["003"] is None  # both open with a sentence: no headline
    assert {k: v["source"] for k, v in heads.items() if v} == {"001": "page_rule", "002": "page_rule",
                                                              "004": "page_rule"}


ISSUE_FILE = "不想谈2件事，中方大规模抛美债\n\n有分析人士指出，这是一记釜底抽薪的组合拳。美国是帮凶吗？\n"


def test_headline_on_the_first_line_of_a_text_file(tmp_path):
    """Issue 16 §3: a short first line + blank line is the headline, so the clickbait check runs."""
    path = tmp_path / "a.txt"
    path.write_text(ISSUE_FILE, encoding="utf-8")
    out = run_score(str(path), "--json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    (r,) = _lines(out.stdout)
    assert r["headline"]["text"] == "不想谈2件事，中方大规模抛美债"
    assert r["headline"]["source"] == "first_line"
    assert r["headline"]["clickbait_probability"] is not None
    assert r["chars"] == len(ISSUE_FILE.strip()) - 1  # the blank line goes, the headline line stays
    for sp in r["spans"]:
        assert ISSUE_FILE[sp["start"]:sp["end"]] == sp["text"]
    assert "vague_authority" in {sp["label"] for sp in r["spans"]}


def test_title_option_for_one_file(tmp_path):
    body = tmp_path / "body.txt"
    body.write_text("有分析人士指出，这是一记釜底抽薪的组合拳。\n", encoding="utf-8")
    out = run_score(str(body), "--json", "--title", "震惊！中方竟然出手了", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    (r,) = _lines(out.stdout)
    assert r["headline"]["text"] == "震惊！中方竟然出手了" and r["headline"]["source"] == "option"
    assert r["headline"]["clickbait_probability"] >= 0.5
    raw = body.read_text(encoding="utf-8")
    assert all(raw[sp["start"]:sp["end"]] == sp["text"] for sp in r["spans"])
    # without --title the file has no headline
    (plain,) = _lines(run_score(str(body), "--json", tmp_path=tmp_path).stdout)
    assert plain["headline"] is None
    # --title overrides a first-line headline; when it is that line, the line is the headline span
    a = tmp_path / "a.txt"
    a.write_text(ISSUE_FILE, encoding="utf-8")
    (same,) = _lines(run_score(str(a), "--json", "--title", "不想谈2件事，中方大规模抛美债",
                               tmp_path=tmp_path).stdout)
    assert same["headline"]["source"] == "option"


@pytest.mark.parametrize("args, message", [
    (["seeds/000_1187af2e36dfae89.txt", "seeds/003_b44ff1be5c804f79.txt"], "one article file; got 2"),
    (["seeds"], "not a folder"),
    (["records.jsonl"], "applies to a .txt or .html file"),
])
def test_title_option_errors(tmp_path, args, message):
    (tmp_path / "records.jsonl").write_text('{"id": "a", "text": "正文。"}\n', encoding="utf-8")
    args = [str(tmp_path / a) if a == "records.jsonl" else a for a in args]
    out = run_score(*args, "--json", "--title", "标题", tmp_path=tmp_path)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert out.stdout == "" and "Traceback" not in out.stderr
    empty = run_score(args[0], "--title", " ", tmp_path=tmp_path)
    assert empty.returncode == 2 and "--title is empty" in empty.stderr


def test_unreachable_hub_id_is_a_one_line_error(tmp_path):
    """A Hub id as --detector: here the Hub is unreachable (or the repo does not exist)."""
    env_home = tmp_path / "hf"
    out = subprocess.run([sys.executable, "-m", "huashu.cli", "score", str(SEEDS[0]), "--json",
                          "--detector", "huashu-test/no-such-model"], capture_output=True, text=True,
                         cwd=REPO, timeout=300, env={**os.environ, "HF_HOME": str(env_home)})
    assert out.returncode == 2, out.stderr
    assert "huashu-test/no-such-model" in out.stderr and "Hub" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("huashu: error:")]
    assert len(errors) == 1


def test_human_output_highlights_and_mentions_the_rules_fallback(tmp_path):
    out = run_score(*map(str, SEEDS), tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "rules detector" in out.stdout and "no trained model" in out.stdout
    for p in SEEDS:
        assert p.stem in out.stdout
    assert "vague_authority" in out.stdout and "模糊信源" in out.stdout  # legend/summary
    assert "Devices in 5 article(s)" in out.stdout


def test_bad_files_get_one_error_line_and_the_rest_are_scored(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    binary = tmp_path / "blob.txt"
    binary.write_bytes(b"\x00\x01\x02binary\x00")
    missing = tmp_path / "missing.txt"
    out = run_score(str(empty), str(SEEDS[0]), str(binary), str(missing), "--json", tmp_path=tmp_path)
    assert out.returncode == 1
    assert [r["id"] for r in _lines(out.stdout)] == [SEEDS[0].stem]
    errors = [line for line in out.stderr.splitlines() if line.startswith("huashu: error:")]
    assert len(errors) == 3
    for path in (empty, binary, missing):
        assert sum(str(path) in line for line in errors) == 1
    assert "Traceback" not in out.stderr


def test_raw_offsets_with_chrome_emoji_astral_and_html(tmp_path):
    txt = tmp_path / "emoji.txt"
    txt.write_text("网易首页 > 网易号 > 正文 申请入驻\n\n震惊！他竟然做了这件事😀\n\n0\n分享至\n\n"
                   "😀𠮷👍🏽 最新數據顯示，美國是幫兇嗎？這已是大勢所趨。\n", encoding="utf-8")
    html = tmp_path / "page.html"
    html.write_text("<html><head><title>t</title></head><body><h1>为何他竟然这样做？</h1>"
                    "<p>𠮷&amp;😀 据了解，他们不过是<b>帮凶</b>。难道这是巧合吗？</p></body></html>",
                    encoding="utf-8")
    out = run_score(str(txt), str(html), "--json", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    results = _lines(out.stdout)
    assert len(results) == 2
    for r, path in zip(results, (txt, html), strict=True):
        raw = path.read_text(encoding="utf-8")
        assert r["spans"], path.name
        for s in r["spans"]:
            assert raw[s["start"]:s["end"]] == s["text"], (path.name, s)
    found = {(s["label"], s["text"]) for s in results[0]["spans"]}
    assert ("vague_authority", "最新數據顯示") in found
    assert ("inevitability", "大勢所趨") in found
    assert ("name_calling", "帮凶") in {(s["label"], s["text"]) for s in results[1]["spans"]}


def test_label_filter_threshold_and_bad_options(tmp_path):
    out = run_score(str(SEEDS[0]), "--json", "-l", "vague_authority", "-t", "0.8", tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    (r,) = _lines(out.stdout)
    assert r["spans"] and all(s["label"] == "vague_authority" and s["score"] >= 0.8 for s in r["spans"])
    assert set(r["summary"]) == {"vague_authority"}
    bad = run_score(str(SEEDS[0]), "--json", "-l", "no_such_label", tmp_path=tmp_path)
    assert bad.returncode == 2 and "unknown label" in bad.stderr and bad.stdout == ""
    assert "Traceback" not in bad.stderr


# ----------------------------------------------------------------------------- the contract object

@pytest.fixture(scope="module")
def detector() -> RulesDetector:
    return RulesDetector()


def test_score_document_raw_and_clean_offsets(detector):
    raw = ("网易首页 > 网易号 > 正文 申请入驻\n\n不想谈2件事，中方竟然大规模抛美债\n\n0\n分享至\n\n"
           "最新数据显示，美国是帮凶吗？\n")
    doc = ingest_text(raw, "x")
    assert doc.title and doc.text != raw
    r = score_document(detector, doc)
    assert CONTRACT <= r.keys()
    for s in r["spans"]:
        assert raw[s["start"]:s["end"]] == s["text"] != ""
    clean = score_document(detector, doc, raw_offsets=False)
    for s in clean["spans"]:
        assert doc.text[s["start"]:s["end"]] == s["text"]
    assert r["headline"]["text"] == doc.title and r["headline"]["clickbait_probability"] >= 0.5
    assert score_documents(detector, [doc], raw_texts=[raw])[0]["spans"] == \
        score_document(detector, doc, raw_text=raw)["spans"]


def test_score_document_options_and_errors(detector):
    doc = Document(id="d", text="最新数据显示，美国是帮凶吗？这已是大势所趋。")
    r = score_document(detector, doc, labels=["name_calling"])
    assert [s["label"] for s in r["spans"]] == ["name_calling"] and list(r["summary"]) == ["name_calling"]
    assert r["headline"] is None
    assert score_document(detector, doc, threshold=1.0)["spans"] == []
    with pytest.raises(ScoringError, match="unknown label"):
        score_document(detector, doc, labels=["nope"])
    with pytest.raises(ScoringError, match="outside"):
        score_document(detector, doc, threshold=1.5)
    empty = score_document(detector, Document(id="e", text="今天天气晴。"))
    assert empty["spans"] == [] and empty["article_score"] == 0.0 and empty["coverage"] == 0.0
    assert "no devices" in empty["explanation"]


def test_article_score_saturates_and_grows_with_density():
    one = [Span(0, 2, "name_calling", 1.0)]
    many = [Span(i * 3, i * 3 + 2, "name_calling", 1.0) for i in range(20)]
    assert 0 < article_score(one, 1000) < article_score(many, 1000) < 1.0
    assert article_score(one, 10) == article_score(one, 500)  # short texts do not saturate
    assert article_score([], 1000, clickbait_probability=1.0) == 0.5
