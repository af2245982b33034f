"""Corpus report (huashu/report.py, `huashu report`): the batch output's source, the aggregates,
markdown and HTML output, bad input, and the page in headless Chromium.

The scored corpus is made here by the rules detector (`huashu score --input … --output …` through
huashu.batch.score_corpus) over the seed articles, in two outlet folders, plus synthetic records
from a JSONL and a CSV file with their own sources (no HanCD text).
"""

from __future__ import annotations

import csv
import html
import json
import logging
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from huashu.batch import score_corpus
from huashu.report import (
    CLICKBAIT_THRESHOLD,
    MIN_CHARS,
    ReportError,
    aggregate,
    build_report,
    read_scored,
    render_html,
    render_markdown,
    write_report,
)
from huashu.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]
HUASHU = [sys.executable, "-c", "from huashu.cli import main; main()"]
ARTIFACTS = Path(os.environ.get("HUASHU_ARTIFACTS", REPO / "artifacts")) / "report"

XSS = "<script>alert('x')</script>"
WIRE = [  # JSONL records: a Chinese outlet name, an English one, and one without (→ the file's name)
    {"id": "w1", "source": "新华网", "title": "美国财政部公布数据",
     "text": "美国财政部公布的数据显示，持有量下降。今年的经济数据与去年大体持平。"},
    {"id": "w2", "source": "新华网", "title": "震惊！中方出手了？",
     "text": "有分析人士指出，这是一记釜底抽薪的组合拳。难道这是巧合吗？美国必将自食其果。"},
    {"id": "w3", "source": "Example & <Daily>", "title": f"{XSS} 你绝对想不到",
     "text": "明眼人都能看出，这是掩耳盗铃。麻烦您点击一下“关注”。"},
    {"id": "w4", "text": "今年的经济数据与去年大体持平，有关部门将于下月公布详细数据。"},
]
SELF_MEDIA = [  # CSV rows (HanCD columns) with a source column
    {"label": "1", "title": "太可怕了！99%的人都不知道的真相", "source": "自媒体",
     "text": "据了解，网友纷纷表示这简直是天大的笑话。喜欢的朋友点个赞再走。"},
    {"label": "0", "title": "本市今日召开新闻发布会", "source": "自媒体",
     "text": "本市今日召开新闻发布会，介绍了今年上半年的经济运行情况。"},
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, seed_paths: list[Path]) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for i, p in enumerate(seed_paths):
        outlet = root / ("outlet_a" if i < 3 else "outlet_b")
        outlet.mkdir(exist_ok=True)
        shutil.copy(p, outlet / p.name)
    (root / "wire.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in WIRE),
                                     encoding="utf-8")
    with (root / "self_media.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["label", "title", "text", "source"])
        w.writeheader()
        w.writerows(SELF_MEDIA)
    return root


@pytest.fixture(scope="module")
def scored(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scored") / "scored.jsonl"
    stats = score_corpus(corpus, out, "rules", progress=False)
    assert stats.scored == 5 + len(WIRE) + len(SELF_MEDIA)
    return out


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HUASHU, *args], cwd=REPO, capture_output=True, text=True, timeout=300)


# --------------------------------------------------------------------------- batch output


def test_batch_output_carries_the_source(scored: Path, seed_paths: list[Path]) -> None:
    got = {r["id"]: r["source"] for r in lines(scored)}
    want = {p.stem: "outlet_a" if i < 3 else "outlet_b" for i, p in enumerate(seed_paths)}
    want |= {"w1": "新华网", "w2": "新华网", "w3": "Example & <Daily>", "w4": "wire.jsonl",
             "self_media-0000": "自媒体", "self_media-0001": "自媒体"}
    assert got == want


def test_single_file_input_falls_back_to_its_name(tmp_path: Path, seed_paths: list[Path]) -> None:
    out = tmp_path / "one.jsonl"
    score_corpus(seed_paths[0], out, "rules", progress=False)
    assert [r["source"] for r in lines(out)] == [seed_paths[0].name]


# --------------------------------------------------------------------------- aggregates


def test_aggregates_are_exact(scored: Path) -> None:
    recs = lines(scored)
    report = build_report([scored], top=3)
    t = report.total
    assert (t.articles, t.chars, t.devices) == (len(recs), sum(r["chars"] for r in recs),
                                                sum(len(r["spans"]) for r in recs))
    by_source: dict[str, list[dict]] = {}
    for r in recs:
        by_source.setdefault(r["source"], []).append(r)
    assert {g.name for g in report.sources} == set(by_source)
    for g in report.sources:
        rs = by_source[g.name]
        chars = sum(r["chars"] for r in rs)
        devices = sum(len(r["spans"]) for r in rs)
        assert (g.articles, g.chars, g.devices) == (len(rs), chars, devices)
        assert g.density == devices * 1000 / chars
        labels = Counter(s["label"] for r in rs for s in r["spans"])
        for lab in load_taxonomy().ids:
            assert g.label_density(lab) == labels[lab] * 1000 / chars
        heads = [r["headline"] for r in rs if r["headline"]]
        click = [h for h in heads if (h["clickbait_probability"] or 0) >= CLICKBAIT_THRESHOLD]
        assert (g.headlines, g.clickbait) == (len(heads), len(click))
    # densest source first
    assert [g.density for g in report.sources] == sorted((g.density for g in report.sources), reverse=True)
    # per label over the corpus, in taxonomy order, with the Chinese and English names
    all_labels = Counter(s["label"] for r in recs for s in r["spans"])
    assert [lab.id for lab in report.labels] == load_taxonomy().ids
    for lab in report.labels:
        assert t.label_density(lab.id) == all_labels[lab.id] * 1000 / t.chars
        assert lab.zh == load_taxonomy()[lab.id].zh
    # the synthetic clickbait headlines are found (rules), the plain ones are not
    xinhua = next(g for g in report.sources if g.name == "新华网")
    assert (xinhua.headlines, xinhua.clickbait) == (2, 1) and xinhua.clickbait_rate == 0.5
    assert next(g for g in report.sources if g.name == "wire.jsonl").headlines == 0
    # score histogram
    assert sum(report.score_bins) == len(recs)
    # the most device-dense articles: short texts ranked as if MIN_CHARS long
    dens = sorted(recs, key=lambda r: -len(r["spans"]) * 1000 / max(r["chars"], MIN_CHARS))
    assert [a.id for a in report.top] == [r["id"] for r in dens[:3]]
    for a in report.top:
        top = a.top_spans()
        assert 0 < len(top) <= 5
        assert [s["start"] for s in top] == sorted(s["start"] for s in top)
        best = max(float(s["score"]) for s in a.spans)
        assert any(float(s["score"]) == best for s in top)


def test_missing_source_is_attributed_to_the_file(tmp_path: Path, scored: Path) -> None:
    old = tmp_path / "old-run.jsonl"  # output of a huashu before the "source" field
    old.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "source"}, ensure_ascii=False)
                           + "\n" for r in lines(scored)[:3]), encoding="utf-8")
    report = aggregate(read_scored([old]))
    assert [g.name for g in report.sources] == ["old-run.jsonl"]
    assert report.total.articles == 3


def test_markdown_cli(scored: Path, tmp_path: Path) -> None:
    r = run("report", str(scored), "--markdown")
    assert r.returncode == 0, r.stderr
    md = r.stdout
    report = build_report([scored])
    for heading in ("## Devices per 1,000 characters by source", "## Devices per 1,000 characters by label",
                    "## Article scores", "## Most device-dense articles"):
        assert heading in md
    for g in report.sources:
        assert f"| {g.name} | {g.articles:,} | {g.chars:,} | {g.devices:,} | {g.density:.2f} |" in md
    tax = load_taxonomy()
    for lab in tax.labels:
        assert f"| {lab.en} (`{lab.id}`) | {lab.zh} |" in md
    assert f"**{report.total.density:.2f} devices per 1,000 characters**" in md
    # to a file
    out = tmp_path / "report.md"
    r = run("report", str(scored), "--markdown", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="utf-8").split("Made ")[1].split("\n", 1)[1] == md.split("Made ")[1].split(
        "\n", 1)[1]


def test_html_is_self_contained_and_escaped(scored: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    r = run("report", str(scored), "-o", str(out), "--top", "20")
    assert r.returncode == 0, r.stderr
    page = out.read_text(encoding="utf-8")
    assert "<script" not in page  # the article's <script> is text, not markup
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<td>Example &amp; &lt;Daily&gt;</td>" in page
    assert page.count('src="data:image/svg+xml;base64,') == 4
    for attr in ("src=", "href="):  # nothing to fetch
        for chunk in page.split(attr)[1:]:
            assert chunk.startswith('"data:'), chunk[:60]
    assert "<link" not in page and "@import" not in page and "url(" not in page
    for lab in load_taxonomy().labels:
        assert lab.zh in page and lab.en in page
    assert "新华网" in page and "自媒体" in page


def test_html_escapes_article_text(scored: Path) -> None:
    report = build_report([scored], top=20)
    assert any(a.id == "w3" for a in report.top)
    page = render_html(report, images={})
    assert "<script" not in page
    assert html.escape(XSS, quote=True) in page
    assert page.count("nothing to draw") == 4  # no images given: each chart says so


def test_charts_embed_chinese_glyphs(scored: Path) -> None:
    pytest.importorskip("matplotlib")
    import base64

    from huashu.report import charts, cjk_font

    if cjk_font() is None:
        pytest.skip("no CJK font installed (make browser)")
    images = charts(build_report([scored]))
    assert set(images) == {"by_source", "by_label", "clickbait", "scores"}
    for name, uri in images.items():
        assert uri and uri.startswith("data:image/svg+xml;base64,"), name
        svg = base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # glyphs are outlines (the page needs no font); the CJK font drew the Chinese ones
    by_label = base64.b64decode(images["by_label"].split(",", 1)[1]).decode("utf-8")
    assert "NotoSansCJK" in by_label.replace(" ", "") or "CJK" in by_label


def test_missing_cjk_font_warns_and_still_draws(scored: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib import font_manager

    from huashu import report as rep

    monkeypatch.setattr(font_manager.fontManager, "ttflist",
                        [f for f in font_manager.fontManager.ttflist
                         if "CJK" not in f.name and f.name not in rep.CJK_FAMILIES])
    rep.cjk_font.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="huashu.report"):
            images = rep.charts(build_report([scored]))
        assert "no CJK font" in caplog.text
        assert all(images.values())
    finally:
        rep.cjk_font.cache_clear()


def test_missing_matplotlib_names_the_extra(scored: Path, monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib → ImportError
    with pytest.raises(ReportError, match=r"huashu\[report\]"):
        write_report([scored], tmp_path / "r.html")
    _, text = write_report([scored], None, markdown=True)  # markdown needs no matplotlib
    assert "# 话术 huashu corpus report" in text


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("", "empty file"),
    ("\n\n", "empty file"),
    ("this is not json\n", "line 1: not JSON"),
    ('{"id": "a", "spans": [], "chars": 10}\n[1, 2]\n', "line 2: not a scored document"),
    ('{"id": "a", "spans": []}\n', "missing field(s) chars"),
    ('{"id": "a", "spans": [{"start": 0}], "chars": 10}\n', "\"spans\" must be"),
    ('{"id": "a", "spans": [], "chars": -1}\n', "non-negative"),
])
def test_bad_input_is_a_clear_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "scored.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_scored([path])
    r = run("report", str(path), "-o", str(tmp_path / "r.html"))
    assert r.returncode == 2
    assert message in r.stderr and str(path) in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "r.html").exists()


def test_half_written_last_line_is_left_out(tmp_path: Path, scored: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    text = scored.read_text(encoding="utf-8")
    path = tmp_path / "running.jsonl"  # a batch run still writing its last line
    path.write_text(text + '{"id": "next", "spa', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="huashu.report"):
        assert len(read_scored([path])) == len(lines(scored))
    assert "half-written" in caplog.text
    path.write_text('{"id": "next", "spa\n' + text, encoding="utf-8")  # elsewhere: an error
    with pytest.raises(ReportError, match="line 1: not JSON"):
        read_scored([path])


def test_odd_span_fields_do_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps({"id": "o", "chars": 600, "source": "s", "spans": [
        {"label": "exaggeration", "text": "<最>", "score": "high", "start": "x"},
        {"label": "not_a_label", "text": "y", "score": 0.5, "start": 3}]}) + "\n", encoding="utf-8")
    report = build_report([path])
    assert [lab.id for lab in report.labels] == ["exaggeration", "not_a_label"]
    assert "not_a_label" in render_markdown(report)
    assert "&lt;最&gt;" in render_html(report, images={})


def test_cli_usage_errors(tmp_path: Path, scored: Path, seed_paths: list[Path]) -> None:
    r = run("report", str(scored))  # HTML needs -o
    assert r.returncode == 2 and "-o report.html" in r.stderr and "Traceback" not in r.stderr
    r = run("report", str(tmp_path), "-o", str(tmp_path / "r.html"))  # a directory
    assert r.returncode == 2 and "is a directory" in r.stderr
    r = run("report", str(seed_paths[0]), "-o", str(tmp_path / "r.html"))  # an article, not scored output
    assert r.returncode == 2 and "not JSON" in r.stderr and "Traceback" not in r.stderr
    r = run("report", str(scored), "-o", str(scored))
    assert r.returncode == 2 and "must not be an input" in r.stderr
    assert lines(scored)  # untouched


def test_markdown_of_a_corpus_without_devices(tmp_path: Path) -> None:
    path = tmp_path / "plain.jsonl"
    path.write_text(json.dumps({"id": "p", "spans": [], "chars": 100, "article_score": 0.0,
                                "headline": None, "source": "x"}) + "\n", encoding="utf-8")
    md = render_markdown(build_report([path]))
    assert "No article has a device." in md and "| x | 1 | 100 | 0 | 0.00 |" in md


def test_many_sources_chart_the_largest(tmp_path: Path) -> None:
    from huashu.report import MAX_CHART_SOURCES, chart_sources

    path = tmp_path / "many.jsonl"
    span = {"start": 0, "end": 2, "label": "exaggeration", "score": 0.9, "text": "绝对"}
    recs = [{"id": f"d{i}", "source": f"s{i:02d}", "chars": 1000 + i, "article_score": 0.1,
             "spans": [span] * (i % 4),
             "headline": None} for i in range(MAX_CHART_SOURCES + 5)]
    recs += [{"id": "d0b", "source": "s00", "chars": 10, "spans": [], "headline": None}]  # s00: 2 articles
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs), encoding="utf-8")
    report = build_report([path])
    assert len(report.sources) == MAX_CHART_SOURCES + 5
    shown = chart_sources(report)
    assert len(shown) == MAX_CHART_SOURCES and "s00" in {g.name for g in shown}
    assert [g.density for g in shown] == sorted((g.density for g in shown), reverse=True)
    md = render_markdown(report)
    assert all(f"| s{i:02d} |" in md for i in range(MAX_CHART_SOURCES + 5))


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_report_page_in_chromium(scored: Path, tmp_path: Path, open_chromium) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    out = tmp_path / "report.html"
    r = run("report", str(scored), "-o", str(out))
    assert r.returncode == 0, r.stderr
    with open_chromium() as driver:
        driver.get(out.as_uri())
        driver.execute_script("return document.readyState")
        imgs = driver.execute_script("""
            return Array.from(document.querySelectorAll('figure[data-chart] img')).map(i => ({
              chart: i.closest('figure').dataset.chart, complete: i.complete, nw: i.naturalWidth,
              nh: i.naturalHeight, w: i.getBoundingClientRect().width,
              h: i.getBoundingClientRect().height}));""")
        assert sorted(i["chart"] for i in imgs) == ["by_label", "by_source", "clickbait", "scores"]
        for i in imgs:
            assert i["complete"] and i["nw"] > 100 and i["nh"] > 50 and i["w"] > 100 and i["h"] > 50, i
        body = driver.find_element(By.TAG_NAME, "body").text
        for zh in ("话术语料报告", "诱导关注", "新华网", "自媒体", "标题党"):
            assert zh in body
        # article text is shown as text: the <script> of a document is visible, not run
        assert XSS in body
        assert driver.execute_script("return document.scripts.length") == 0
        rows = driver.find_elements(By.CSS_SELECTOR, "#sources tbody tr")
        assert len(rows) == len({x["source"] for x in lines(scored)})
        chips = driver.find_elements(By.CSS_SELECTOR, "#top .chip")
        assert chips and all(c.value_of_css_property("background-color") not in ("rgba(0, 0, 0, 0)",)
                             for c in chips)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1400, min(int(height) + 40, 12000))
        shot = ARTIFACTS / "report.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 50_000
        shutil.copy(out, ARTIFACTS / "report.html")
