"""Ingestion: chrome stripping on the five seeds, headlines, exact offsets back to the raw input,
HTML, CSV/JSONL records, bad input, the `huashu ingest` command and the corpus resolver."""

from __future__ import annotations

import html
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from huashu.annotations import AnnotationRecord
from huashu.corpus import (
    CorpusError,
    HashMismatchError,
    check_hash,
    load_document,
    resolve_record,
)
from huashu.ingest import (
    IngestError,
    ingest_file,
    ingest_paths,
    ingest_text,
    parse_chrome_rules,
    read_jsonl,
    read_text,
    span_to_raw,
    write_jsonl,
)
from huashu.paths import corpus_of
from huashu.spans import Document, Span

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
DATA = Path(__file__).resolve().parent / "data" / "ingest"
HANCD = REPO.parent / "shared" / "corpus" / "hancd"


def seed(prefix: str) -> Path:
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path


def ingest_seed(prefix: str) -> tuple[str, Document]:
    path = seed(prefix)
    (doc,) = ingest_file(path)
    return read_text(path), doc


# For each seed: the raw line numbers (1-based, inclusive) of the headline and of the article body.
# Everything else is chrome. Inside the body, only blank lines, image placeholders and the stray
# "编辑" are chrome. The expected cleaned text is built from these ranges, independently of the rules.
ARTICLE = {
    "000": (None, (1, 79)),
    "001": (3, (7, 81)),
    "002": (3, (8, 32)),
    "003": (None, (1, 41)),
    "004": (3, (8, 108)),
}
BODY_CHROME = {"", "![]()", "编辑"}


def expected_lines(prefix: str) -> list[str]:
    raw_lines = read_text(seed(prefix)).split("\n")
    title_line, (first, last) = ARTICLE[prefix]
    lines = [raw_lines[title_line - 1].strip()] if title_line else []
    lines += [ln.strip() for ln in raw_lines[first - 1:last] if ln.strip() not in BODY_CHROME]
    return lines


@pytest.mark.parametrize("prefix", sorted(ARTICLE))
def test_seed_keeps_every_article_paragraph_and_nothing_else(prefix):
    _, doc = ingest_seed(prefix)
    assert doc.text.split("\n") == expected_lines(prefix)
    assert "\n\n" not in doc.text and doc.text == doc.text.strip()


FIRST_LAST = {
    "000": ("在閱讀此文前,為了方便您進行討論和分享,麻煩您點擊一下“關注”", "顯露出了清晰的端倪。"),
    "001": ("一边,是全球第二大经济体正在系统性地、毫不犹豫地抛售美国国债。", "也更加公平的基础之上。"),
    "002": ("美国财政部最新披露的数据,把中美金融与资源博弈推向了台前。",
            "改变不了美国在博弈中逐渐被动的局面。"),
    "003": ("哈嘍,各位朋友,歡迎收看小蒼時事觀察欄目。", "恐怕將成為常態而非例外。"),
    "004": ("特朗普已经确定要在2026年4月开启他的中国之行", "一边又想给谈判预设禁区。"),
}


@pytest.mark.parametrize("prefix", sorted(FIRST_LAST))
def test_seed_first_and_last_article_sentences(prefix):
    _, doc = ingest_seed(prefix)
    first, last = FIRST_LAST[prefix]
    lines = doc.text.split("\n")
    body = lines[1:] if doc.title_span else lines
    assert body[0].startswith(first)
    assert body[-1].endswith(last)


CHROME_MARKERS = {
    "000": ["![]()", "[]()", "特別聲明", "Notice:", "NetEase Hao"],
    "001": ["你的位置", "意昂体育", "产品展示 >", "发布日期", "点击次数", "友情链接", "Powered by",
            "Copyright", "RSS地图", "© 2013"],
    "002": ["网易首页", "网易号 > 正文", "申请入驻", "分享至", "特别声明", "Notice:", "相关推荐", "热点推荐",
            "极目新闻", "2026-01-20 16:36:18", "君君文谈", "incentive-icons", "4628文章数", "78521关注度",
            "往期回顾", "全部", "财经要闻", "头条要闻", "体育要闻", "娱乐要闻", "科技要闻", "汽车要闻",
            "态度原创", "李迅雷", "无障碍浏览", "进入关怀版"],
    "003": ["![]()", "特別聲明", "Notice:"],
    "004": ["网易首页", "申请入驻", "分享至", "特别声明", "Notice:", "相关推荐", "热点推荐", "手工制作阿歼",
            "2026-01-25 23:04:49", "贾文彬的史书", "incentive-icons", "165文章数", "往期回顾", "头条要闻",
            "亲子要闻", "无障碍浏览 进入关怀版"],
}


@pytest.mark.parametrize("prefix", sorted(CHROME_MARKERS))
def test_seed_chrome_markers_are_gone(prefix):
    raw, doc = ingest_seed(prefix)
    for marker in CHROME_MARKERS[prefix]:
        assert marker in raw, f"fixture drift: {marker!r} not in the raw seed"
        assert marker not in doc.text, f"chrome {marker!r} left in {doc.id}"
    lines = doc.text.split("\n")
    assert "编辑" not in lines and "0" not in lines and "分享至" not in lines
    assert not any(ln.startswith(("![", "[]")) for ln in lines)


def test_article_lines_that_look_like_chrome_are_kept():
    _, d0 = ingest_seed("000")
    # an author's own "声明" is article text (and a vague_authority example), not the platform disclaimer
    assert "聲明:本文內容均是根據權威資料,結合個人觀點撰寫的原創內容" in d0.text
    _, d1 = ingest_seed("001")
    assert "通货膨f胀" in d1.text  # kept characters are never altered, typos included
    _, d4 = ingest_seed("004")
    for heading in ["怕被打脸故作镇定", "中国不再当接盘侠", "想白拿好处?没门!", "结语"]:
        assert heading in d4.text.split("\n")


HEADLINES = {
    "000": None,
    "001": "美债减持潮下的盟友困境:日本英国为何硬接烫手山芋",
    "002": "中国持续减持美债推进外储多元化 中美金融资源博弈加剧",
    "003": None,
    "004": "特朗普抵京前,美国先通知中国,不想谈2件事,中方大规模抛美债",
}


@pytest.mark.parametrize("prefix", sorted(HEADLINES))
def test_seed_headline_detection(prefix):
    raw, doc = ingest_seed(prefix)
    title = HEADLINES[prefix]
    assert doc.title == title
    if title is None:
        assert doc.title_span is None
        return
    assert doc.title_span == (0, len(title))
    assert doc.text.split("\n")[0] == title
    assert doc.text.count(title) == 1  # 001: breadcrumb copy dropped, the standalone line kept
    s, e = doc.offsets.span_to_raw(*doc.title_span)
    assert raw[s:e] == title
    raw_line = raw.count("\n", 0, s) + 1
    assert raw_line == 3  # the standalone headline line, not the breadcrumb on line 1


HEADLINE_SOURCES = {"000": None, "001": "page_rule", "002": "page_rule", "003": None, "004": "page_rule"}


@pytest.mark.parametrize("prefix", sorted(HEADLINE_SOURCES))
def test_seed_headline_source(prefix):
    """How each seed's headline was found; 000 and 003 open with a sentence and have none."""
    _, doc = ingest_seed(prefix)
    assert doc.meta.get("title_source") == HEADLINE_SOURCES[prefix]


# --------------------------------------------------------------------------- plain-text first line

ISSUE_TEXT = ("不想谈2件事，中方大规模抛美债\n\n"
              "有分析人士指出，这是一记釜底抽薪的组合拳。美国是帮凶吗？\n\n第二段。\n")


def test_first_line_of_a_plain_text_file_is_its_headline(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(ISSUE_TEXT, encoding="utf-8")
    (doc,) = ingest_file(path)
    assert doc.title == "不想谈2件事，中方大规模抛美债"
    assert doc.meta["title_source"] == "first_line"
    assert doc.title_span == (0, len(doc.title))
    # the headline line stays part of the text; offsets still index the raw file
    assert doc.text == ("不想谈2件事，中方大规模抛美债\n"
                        "有分析人士指出，这是一记釜底抽薪的组合拳。美国是帮凶吗？\n第二段。")
    raw = read_text(path)
    s, e = doc.offsets.span_to_raw(*doc.title_span)
    assert (s, e) == (0, len(doc.title)) and raw[s:e] == doc.title
    i = doc.text.index("釜底抽薪")
    s, e = doc.offsets.span_to_raw(i, i + 4)
    assert raw[s:e] == "釜底抽薪"


@pytest.mark.parametrize("raw, title", [
    ("震惊！中方出手了\n\n正文。\n", "震惊！中方出手了"),
    ("美债还能撑多久？\n\n正文。", "美债还能撑多久？"),  # clickbait headlines end in ？/！
    ("他说“这是巧合”\n\n正文。", "他说“这是巧合”"),
    ("  缩进的标题  \n \t \n正文。", "缩进的标题"),
    ("\ufeff\n\n标题在空行之后\n\n正文。", "标题在空行之后"),
    ("标题\r\n\r\n正文第一段。\r\n第二段。\r\n", "标题"),  # CRLF
    ("网易首页 > 网易号 > 正文 申请入驻\n\n分享至\n\n第一行短句\n\n正文。", "第一行短句"),  # after chrome
])
def test_first_line_headline_cases(raw, title):
    doc = ingest_text(raw, "t")
    assert doc.title == title
    assert doc.title_span == (0, len(title)) and doc.text.startswith(title)
    s, e = doc.offsets.span_to_raw(*doc.title_span)
    assert raw[s:e] == title


@pytest.mark.parametrize("raw", [
    "第一段是一句话。\n\n第二段。",  # sentence-final punctuation
    "他说：\n\n“我们不去。”",
    "第一句，\n\n第二句。",
    "他们回答“好的。”\n\n第二段。",  # 。 inside the closing quote
    "The first sentence.\n\nThe second.",
    "不想谈2件事，中方大规模抛美债\n正文紧跟，没有空行。",  # no blank line after it
    "不想谈2件事，中方大规模抛美债\n\n",  # nothing after it: the whole text, not a headline
    "一" * 65 + "\n\n正文。",  # too long for a headline
    "只有一行没有标点",
])
def test_no_first_line_headline(raw):
    doc = ingest_text(raw, "t")
    assert doc.title is None and doc.title_span is None and "title_source" not in doc.meta


def test_given_title_wins_over_the_first_line_and_says_where_it_came_from():
    doc = ingest_text(ISSUE_TEXT, "t", title="另一个标题")
    assert doc.title == "另一个标题" and doc.title_span is None
    assert doc.meta["title_source"] == "title_field"
    doc = ingest_text(ISSUE_TEXT, "t", title="不想谈2件事，中方大规模抛美债", title_source="option")
    assert doc.title_span == (0, 15) and doc.meta["title_source"] == "option"
    html_doc = ingest_text("<h1>网页标题</h1><p>正文。</p>", "h", fmt="html")
    assert html_doc.meta["title_source"] == "html"
    # HTML has no first-line rule: a page without <h1> keeps no headline
    assert ingest_text("<p>短的第一段</p>\n\n<p>正文。</p>", "h", fmt="html").title is None


def test_records_say_their_title_came_from_the_title_field(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"id": "a", "title": "标题", "text": "正文。"}, ensure_ascii=False) + "\n"
                    + json.dumps({"id": "b", "text": "短句\n\n正文。"}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    a, b = ingest_file(path)
    assert a.meta["title_source"] == "title_field"
    assert b.title is None  # records are not plain-text files: no first-line guess
    with pytest.raises(IngestError, match=r"only for a \.txt or \.html file"):
        ingest_file(path, title="x")


def test_first_line_rule_is_configurable():
    rules = parse_chrome_rules({"first_line": {"max_length": 4, "sentence_end": "！$"}})
    assert ingest_text("四个字的\n\n正文。", "t", rules=rules).title == "四个字的"
    assert ingest_text("五个字的题\n\n正文。", "t", rules=rules).title is None
    assert ingest_text("震惊！\n\n正文。", "t", rules=rules).title is None
    assert ingest_text("短句\n\n正文。", "t", rules=parse_chrome_rules({})).title is None  # no rule: off
    with pytest.raises(ValueError, match=r"first_line\.max_length must be an integer"):
        parse_chrome_rules({"first_line": {"max_length": "many"}})
    with pytest.raises(ValueError, match="bad sentence_end regex"):
        parse_chrome_rules({"first_line": {"sentence_end": "("}})


@pytest.mark.parametrize("prefix", sorted(ARTICLE))
def test_seed_offsets_round_trip(prefix):
    raw, doc = ingest_seed(prefix)
    text = doc.text
    # every kept line maps back to the identical raw stretch
    pos = 0
    for line in text.split("\n"):
        s, e = doc.offsets.span_to_raw(pos, pos + len(line))
        assert raw[s:e] == line
        pos += len(line) + 1
    # every single character, and many random spans inside lines
    for i, ch in enumerate(text):
        assert raw[doc.offsets.to_raw(i)] == ch
    rng = random.Random(int(prefix))
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    for _ in range(500):
        k = rng.randrange(len(line_starts))
        start = line_starts[k]
        end = line_starts[k + 1] - 1 if k + 1 < len(line_starts) else len(text)
        a = rng.randrange(start, end)
        b = rng.randrange(a + 1, end + 1)
        span = doc.to_raw(Span(a, b, "x"))
        assert raw[span.start:span.end] == text[a:b]
    # a span across deleted chrome still maps its ends exactly
    if "\n" in text:
        a, b = 5, len(text) - 5
        s, e = doc.offsets.span_to_raw(a, b)
        assert raw[s] == text[a] and raw[e - 1] == text[b - 1]


def test_offsets_survive_jsonl(tmp_path):
    docs = [d for _, r in ingest_paths([SEEDS]) for d in r]
    assert [d.id for d in docs] == [p.stem for p in sorted(SEEDS.glob("*.txt"))]
    out = tmp_path / "docs.jsonl"
    assert write_jsonl(docs, out) == 5
    back = read_jsonl(out)
    for a, b in zip(docs, back, strict=True):
        assert (a.id, a.text, a.title, a.meta, a.offsets, a.sha256) == (b.id, b.text, b.title, b.meta,
                                                                          b.offsets, b.sha256)
    line = json.loads(out.read_text(encoding="utf-8").split("\n")[0])
    assert {"id", "title", "text", "source", "meta", "offsets", "sha256"} <= set(line)


def test_ingest_text_with_emoji_astral_and_traditional_chrome():
    raw = ("网易首页 > 网易号 > 正文 申请入驻\n\n標題😀𠮷\n\n0\n分享至\n![]()\n"
           "正文😀第一段𠮷，最新數據顯示。![](https://x.invalid/a.png)後半句\n\n"
           "特別聲明:以上內容(如有圖片或視頻亦包括在內)為自媒體平臺“網易號”用戶上傳并發布,本平臺僅提供信息存儲服務。\n")
    doc = ingest_text(raw, "t")
    assert doc.text == "標題😀𠮷\n正文😀第一段𠮷，最新數據顯示。後半句"
    assert doc.title == "標題😀𠮷" and doc.title_span == (0, 4)
    i = doc.text.index("最新數據顯示")
    span = doc.to_raw(Span(i, i + 6, "vague_authority"))
    assert raw[span.start:span.end] == "最新數據顯示"
    j = doc.text.index("𠮷，")
    assert raw[doc.offsets.to_raw(j)] == "𠮷"
    # the inline placeholder is a deleted stretch: a span across it keeps exact ends
    k = doc.text.index("。後")
    s, e = doc.offsets.span_to_raw(k, k + 2)
    assert raw[s] == "。" and raw[e - 1] == "後" and "![](" in raw[s:e]
    assert doc.meta["chrome_removed"]["image_placeholder"] == 2


def test_no_headline_when_the_line_after_the_nav_is_a_paragraph():
    paragraph = "美国财政部最新披露的数据显示，" * 8
    doc = ingest_text(f"网易首页 > 网易号 > 正文 申请入驻\n\n0\n分享至\n\n{paragraph}\n第二段。", "p")
    assert doc.text == f"{paragraph}\n第二段。"
    assert doc.title is None and doc.title_span is None


def test_crlf_and_bom_input(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes("\ufeff第一段。\r\n\r\n![]()\r\n第二段😀。\r\n".encode())
    raw = read_text(path)
    assert not raw.startswith("\ufeff")
    (doc,) = ingest_file(path)
    assert doc.text == "第一段。\n第二段😀。"
    for i, ch in enumerate(doc.text):
        expected = "\n" if ch == "\n" else ch
        assert raw[doc.offsets.to_raw(i)] == expected


# --------------------------------------------------------------------------- HTML


def test_html_page_strips_tags_and_keeps_offsets_into_the_source():
    path = DATA / "netease_page.html"
    raw = read_text(path)
    (doc,) = ingest_file(path)
    assert doc.meta["format"] == "html"
    assert doc.text.split("\n") == [
        "美债&稀土：谁握着“七寸”？",
        "最新數據顯示，中國持有的美國國債已跌破7000億美元 — 明眼人都能看出问题。",
        "美方的“组合拳”😀与𠮷野家的烫手山芋，终究是一场很精准的釜底抽薪。",  # source line break folded
    ]
    assert doc.title == "美债&稀土：谁握着“七寸”？" and doc.title_span == (0, 14)
    for chrome in ["shareCount", "margin", "网易首页", "申请入驻", "分享至", "编辑", "特别声明",
                   "无障碍浏览", "网易</"]:
        assert chrome not in doc.text
    # every non-space character maps to raw source that *is* that character, or its entity
    for i, ch in enumerate(doc.text):
        if ch.isspace():
            continue
        s, e = span_to_raw(doc, i, i + 1)
        assert html.unescape(raw[s:e]) == ch, (i, ch, raw[s:e])
    # entities: one clean character from a raw stretch
    amp = doc.text.index("&")
    assert raw[slice(*span_to_raw(doc, amp, amp + 1))] == "&amp;"
    q = doc.text.index("“七寸”")
    s, e = span_to_raw(doc, q, q + 4)
    assert raw[s:e] == "&ldquo;七寸&rdquo;"
    assert doc.to_raw(Span(q, q + 4, "loaded_metaphor")).start == s  # the core map agrees on the start
    emoji = doc.text.index("😀")
    assert raw[slice(*span_to_raw(doc, emoji, emoji + 1))] == "&#x1F600;"
    # a span across an inline tag: ends exact, the tag inside
    k = doc.text.index("烫手山芋")
    s, e = span_to_raw(doc, k, k + 4)
    assert raw[s:e] == "烫手山芋"
    k = doc.text.index("的烫手山芋")
    s, e = span_to_raw(doc, k, k + 5)
    assert raw[s:e] == "的<b>烫手山芋"


def test_html_fragment_whitespace_and_text_suffix_sniffing(tmp_path):
    doc = ingest_text("<p>hello\n   world &amp; 中文\n  中文</p><p>&nbsp;</p><p>二</p>", "f", fmt="html")
    assert doc.text == "hello world & 中文中文\n二"
    assert doc.title is None
    page = tmp_path / "page.txt"
    page.write_text("<!DOCTYPE html><html><body><p>正文</p></body></html>", encoding="utf-8")
    assert ingest_file(page)[0].text == "正文"
    # </head> omitted (valid HTML5): the body is still read
    doc = ingest_text("<html><head><title>标题</title><body><h1>标题</h1><p>正文&lt;一&gt;</p>", "g",
                      fmt="html")
    assert doc.text == "标题\n正文<一>" and doc.title_span == (0, 2)


# --------------------------------------------------------------------------- CSV and JSONL


def test_csv_records_in_hancd_layout():
    path = DATA / "hancd_like.csv"
    docs = ingest_file(path)
    assert [d.id for d in docs] == ["hancd_like-0000", "hancd_like-0001", "hancd_like-0003"]  # row 2 empty
    d0, d1, d3 = docs
    assert d0.title == "震惊！美债竟然这样了"
    assert d0.text == "震惊！美债竟然这样了\n最新数据显示，美债持仓降至6830亿美元。😀𠮷野家也来了。"
    assert d0.title_span == (0, len(d0.title))
    assert d0.meta["clickbait_label"] == 1 and d0.meta["row"] == 0 and d0.meta["source"] == "fixture"
    assert d0.meta["file"] == "hancd_like.csv" and d0.meta["raw_layout"] == "title\\ntext"
    i = d0.text.index("𠮷")
    assert d0.to_raw(Span(i, i + 1, "x")) == Span(i, i + 1, "x")
    assert d1.text == "稀土出口管制新规发布\n商务部发布公告。\n第二段：细则即日起施行。"
    assert d1.meta["clickbait_label"] == 0
    assert "clickbait_label" not in d3.meta and d3.meta["row"] == 3


def test_jsonl_records(tmp_path):
    path = tmp_path / "batch.jsonl"
    rows = [{"id": "a1", "title": " 标题 ", "text": "正文😀", "source": "web"},
            {"text": "无标题正文𠮷"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    a, b = ingest_file(path)
    assert (a.id, a.text, a.title, a.title_span, a.source) == ("a1", "标题\n正文😀", "标题", (0, 2), "web")
    assert (b.id, b.text, b.title, b.title_span) == ("batch-0001", "无标题正文𠮷", None, None)


@pytest.mark.skipif(not (HANCD / "tencent.csv").exists(), reason="HanCD corpus not available here")
def test_real_hancd_ids_and_layout():
    docs = ingest_file(HANCD / "tencent.csv")
    d = next(d for d in docs if d.id == "tencent-0042")
    assert d.meta["row"] == 42 and d.meta["clickbait_label"] in (0, 1)
    assert d.text.startswith(d.title + "\n")
    assert d.meta["corpus"] == "hancd" and d.meta["corpus_source"] == "tencent.csv"


# --------------------------------------------------------------------------- bad input


def _one_line_error(path: Path) -> str:
    with pytest.raises(IngestError) as info:
        ingest_file(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ")
    return msg


def test_bad_inputs_give_one_clear_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert "empty file" in _one_line_error(empty)
    blank = tmp_path / "blank.txt"
    blank.write_bytes(b"  \n\n ")
    assert "empty file" in _one_line_error(blank)
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert "binary" in _one_line_error(binary)
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("美债减持潮下的盟友困境，日本英国为何硬接烫手山芋。".encode("gbk"))
    msg = _one_line_error(gbk)
    assert "not UTF-8" in msg and "GB18030" in msg
    csv_bad = tmp_path / "bad.csv"
    csv_bad.write_text("label,title,body\n1,标题,正文\n", encoding="utf-8")
    msg = _one_line_error(csv_bad)
    assert "missing column(s) text" in msg and "label,title,text,source" in msg
    chrome_only = tmp_path / "chrome.txt"
    chrome_only.write_text("网易首页 > 网易号 > 正文 申请入驻\n\n0\n分享至\n![]()\n", encoding="utf-8")
    assert "no article text" in _one_line_error(chrome_only)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"text": "好"}\n{oops\n', encoding="utf-8")
    assert "line 2: not valid JSON" in _one_line_error(bad_json)
    no_text = tmp_path / "notext.jsonl"
    no_text.write_text('{"title": "t"}\n', encoding="utf-8")
    assert 'line 1: missing or empty "text"' in _one_line_error(no_text)
    assert "unsupported file type '.pdf'" in _one_line_error(tmp_path / "x.pdf")
    assert "no such file" in _one_line_error(tmp_path / "missing.txt")


def test_one_bad_file_does_not_stop_the_others(tmp_path):
    (tmp_path / "a_good.txt").write_text("好文章。", encoding="utf-8")
    (tmp_path / "b_empty.txt").write_bytes(b"")
    (tmp_path / "c_good.html").write_text("<p>第二篇</p>", encoding="utf-8")
    (tmp_path / "notes.md").write_text("ignored", encoding="utf-8")
    results = list(ingest_paths([tmp_path]))
    assert [p.name for p, _ in results] == ["a_good.txt", "b_empty.txt", "c_good.html"]
    assert isinstance(results[1][1], IngestError)
    assert results[0][1][0].text == "好文章。" and results[2][1][0].text == "第二篇"


def test_chrome_rules_file_errors_name_the_rule():
    with pytest.raises(ValueError, match="rule 'x': bad pattern regex"):
        parse_chrome_rules({"lines": [{"name": "x", "pattern": "("}]})
    with pytest.raises(ValueError, match="duplicate rule name"):
        parse_chrome_rules({"lines": [{"name": "x", "pattern": "a"}],
                            "inline": [{"name": "x", "pattern": "b"}]})


# --------------------------------------------------------------------------- CLI


def _huashu(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "huashu.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**__import__("os").environ, "COLUMNS": "200"})


def test_cli_ingests_the_seeds(tmp_path):
    out = tmp_path / "seeds.jsonl"
    proc = _huashu("ingest", "seeds/", "-o", str(out))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    docs = read_jsonl(out)
    assert [d.id for d in docs] == [p.stem for p in sorted(SEEDS.glob("*.txt"))]
    assert docs[2].text == ingest_file(seed("002"))[0].text
    assert docs[0].meta["corpus_source"] == "seeds/000_1187af2e36dfae89.txt"
    logs = proc.stderr + proc.stdout
    assert "5 files, 5 documents, 0 errors" in logs


def test_cli_never_reads_its_own_output(tmp_path):
    (tmp_path / "a.txt").write_text("正文。", encoding="utf-8")
    out = tmp_path / "docs.jsonl"
    for _ in range(2):
        proc = _huashu("ingest", str(tmp_path), "-o", str(out))
        assert proc.returncode == 0 and "1 files, 1 documents, 0 errors" in proc.stderr
    assert [d.id for d in read_jsonl(out)] == ["a"]


def test_cli_reports_bad_files_and_goes_on(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "gbk.txt").write_bytes("中文内容。".encode("gbk"))
    out = tmp_path / "out.jsonl"
    proc = _huashu("ingest", str(seed("002")), str(tmp_path / "empty.txt"), str(tmp_path / "gbk.txt"),
                   "-o", str(out))
    logs = proc.stderr + proc.stdout
    assert proc.returncode == 1
    assert "Traceback" not in logs
    assert "empty.txt: empty file" in logs and "gbk.txt: not UTF-8" in logs
    assert "3 files, 1 documents, 2 errors" in logs
    assert [d.id for d in read_jsonl(out)] == ["002_75a0683d00f6a402"]


def test_cli_writes_clean_jsonl_to_stdout():
    proc = _huashu("ingest", str(seed("004")))
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, "stdout must hold only the JSONL documents (logs go to stderr)"
    assert Document.from_dict(json.loads(lines[0])).title == HEADLINES["004"]


def test_cli_no_inputs_is_a_user_error(tmp_path):
    proc = _huashu("ingest", str(tmp_path))
    assert proc.returncode == 2 and "no input files" in proc.stderr


# --------------------------------------------------------------------------- corpus resolver


def test_corpus_resolves_seed_records_and_checks_the_hash():
    (doc,) = ingest_file(seed("002"))
    assert corpus_of(seed("002")) == ("seeds", "seeds/002_75a0683d00f6a402.txt")
    got = load_document("seeds", "seeds/002_75a0683d00f6a402.txt", doc.id)
    assert got.text == doc.text and got.sha256 == doc.sha256
    assert load_document("seeds", "seeds/002_75a0683d00f6a402.txt", doc.id) is got  # cached
    rec = AnnotationRecord(doc_id=doc.id, corpus="seeds", source="seeds/002_75a0683d00f6a402.txt",
                           sha256=doc.sha256, annotator="gold", spans=[Span(0, 4, "clickbait_title")])
    assert resolve_record(rec).text == doc.text
    rec.sha256 = "0" * 64
    with pytest.raises(HashMismatchError, match="hash mismatch for 002_75a0683d00f6a402: the corpus file "
                                                "changed since annotation"):
        resolve_record(rec)
    with pytest.raises(CorpusError, match="no document 'nope'"):
        load_document("seeds", "seeds/002_75a0683d00f6a402.txt", "nope")
    with pytest.raises(CorpusError, match="unknown corpus"):
        load_document("wiki", "x.txt", "x")


def test_corpus_resolves_csv_rows_and_notices_changed_files(tmp_path, monkeypatch):
    corpus = tmp_path / "hancd"
    corpus.mkdir()
    (corpus / "mini.csv").write_bytes((DATA / "hancd_like.csv").read_bytes())
    monkeypatch.setenv("HUASHU_HANCD_DIR", str(corpus))
    doc = load_document("hancd", "mini.csv", "mini-0001")
    assert doc.text.startswith("稀土出口管制新规发布\n")
    assert corpus_of(corpus / "mini.csv") == ("hancd", "mini.csv")
    check_hash(doc, doc.sha256)
    sha = doc.sha256
    # the file changes under the annotation: the resolver re-reads it and the hash check fails
    changed = "label,title,text,source\n0,a,b,c\n1,稀土出口管制新规发布,改过的正文。,c\n"
    (corpus / "mini.csv").write_text(changed, encoding="utf-8")
    rec = AnnotationRecord(doc_id="mini-0001", corpus="hancd", source="mini.csv", sha256=sha,
                           annotator="gold", spans=[])
    with pytest.raises(HashMismatchError, match="hash mismatch for mini-0001"):
        resolve_record(rec)
    monkeypatch.setenv("HUASHU_HANCD_DIR", str(tmp_path / "absent"))
    with pytest.raises(CorpusError, match="HanCD corpus not found"):
        load_document("hancd", "mini.csv", "mini-0001")


@pytest.mark.skipif(not (HANCD / "tencent.csv").exists(), reason="HanCD corpus not available here")
def test_corpus_resolves_real_hancd():
    doc = load_document("hancd", "tencent.csv", "tencent-0042")
    assert doc.id == "tencent-0042" and doc.title_span == (0, len(doc.title))
