"""The rules detector: every rule fires on a sentence it should and stays quiet on one it should
not; offsets survive traditional text, emoji and astral characters; same-label spans never overlap."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from huashu.detector import Detector, load_detector
from huashu.ingest import ingest_file
from huashu.normalize import to_simplified
from huashu.rules import RULES, LexiconError, RulesDetector, lexicon_dir, resolve_overlaps, trim
from huashu.spans import Document, Span, validate_spans
from huashu.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[1]

# rule name -> (positive sentence, text the rule must mark in it, negative sentence)
CASES: dict[str, tuple[str, str, str]] = {
    "engagement_call": ("喜欢本文的朋友，请点赞并转发给身边的人。", "请点赞并转发给身边的人",
                        "公司表示将持续关注员工健康，并分享了年度报告。"),
    "unnamed_attribution": ("最新数据显示，失业率连续三个月上升。", "最新数据显示",
                            "国家统计局公布的数据显示，失业率连续三个月上升。"),
    "vague_authority_phrase": ("据了解，该公司已经开始裁员。", "据了解",
                               "据新华社报道，会议于昨日在北京召开。"),
    "question_in_own_voice": ("这一切，难道真的只是巧合吗？我们不妨换个角度看。",
                              "这一切，难道真的只是巧合吗？",
                              "记者问：“这项政策何时落地？”发言人回答说，明年一季度。"),
    "nandao_without_question_mark": ("难道这一切都是巧合。", "难道这一切都是巧合",
                                     "这一切并不是巧合。"),
    "lexicon_loaded_metaphor": ("这一招堪称釜底抽薪，直击要害。", "釜底抽薪",
                                "公司今年的利润增长了百分之五。"),
    "lexicon_loaded_language": ("对方竟然叫嚣要报复到底。", "叫嚣",
                                "对方表示将采取相应措施。"),
    "lexicon_name_calling": ("这些国家不过是美国的帮凶。", "帮凶",
                             "这些国家是美国的贸易伙伴。"),
    "lexicon_exaggeration": ("政府以前所未有的力度推进改革。", "前所未有",
                             "政府以较大的力度推进改革。"),
    "lexicon_inevitability": ("货币体系的多极化已是大势所趋。", "大势所趋",
                              "预计明年经济增长百分之五。"),
    "lexicon_speculation": ("这次表态是一次精心设计的试探。", "精心设计的",
                            "这次表态是在例行记者会上作出的。"),
    "reader_question": ("故事讲完了。哪个瞬间让你似曾相识？欢迎留言。", "哪个瞬间让你似曾相识",
                        "你知道这座桥为什么不会塌吗？答案就在桥墩里。"),
    "intent_claim": ("日本频频示好，意在拉拢菲律宾牵制中国。", "意在拉拢菲律宾牵制中国",
                     "两国外长昨日会谈，讨论了渔业合作。"),
    "headline_cues": ("震惊！他竟然做了这件事，真相让人意外\n正文第一段。",
                      "震惊！他竟然做了这件事，真相让人意外",
                      "国务院召开常务会议 部署稳就业工作\n正文第一段。"),
}


def _doc(text: str, doc_id: str = "t") -> Document:
    """A document whose first line is its headline when the text has more than one line."""
    meta = {}
    title = None
    if "\n" in text:
        title = text.split("\n", 1)[0]
        meta["title_span"] = [0, len(title)]
    return Document(id=doc_id, text=text, title=title, meta=meta)


def _texts(spans: list[Span], text: str, label: str | None = None) -> list[str]:
    return [text[s.start:s.end] for s in spans if label is None or s.label == label]


@pytest.fixture(scope="module")
def detector() -> RulesDetector:
    return RulesDetector()


def test_every_registered_rule_has_a_case():
    assert set(RULES) == set(CASES), "add a positive/negative case for every rule"


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_fires_on_positive_not_on_negative(name):
    positive, expected, negative = CASES[name]
    only = RulesDetector(rules=[name])
    label = RULES[name].label
    got = _texts(only.detect(_doc(positive)), positive, label)
    assert expected in got, f"{name} should mark {expected!r} in {positive!r}, got {got}"
    assert _texts(only.detect(_doc(negative)), negative, label) == [], f"{name} fired on {negative!r}"


def test_detector_protocol_and_loader(detector):
    assert isinstance(detector, Detector)
    assert detector.name == "rules" and len(detector.version) == 12
    loaded = load_detector("rules")
    assert isinstance(loaded, RulesDetector) and loaded.version == detector.version
    docs = [_doc(p) for p, _, _ in CASES.values()]
    assert detector.detect_batch(docs) == [detector.detect(d) for d in docs]


def test_named_source_is_not_vague_authority(detector):
    for text in ("美国财政部公布的数据显示，中国再度减持美债。",
                 "根据美国财政部12月18日发布的报告，数据显示中国减持了118亿美元美债。",
                 "清华大学经济学专家李明认为，利率将下降。",
                 "IMF数据显示，全球增长放缓。"):
        assert _texts(detector.detect(_doc(text)), text, "vague_authority") == [], text
    for text, phrase in (("有分析人士指出，这是一次试探。", "有分析人士指出"),
                         ("另一份数据甚至显示，减持额度更高。", "另一份数据甚至显示"),
                         ("不少专家认为，美债风险上升。", "不少专家认为"),
                         ("明眼人都能看出，这是冲着中国来的。", "明眼人都能看出"),
                         ("网友纷纷表示不满。", "网友纷纷表示"),
                         ("本文根据权威资料撰写。", "根据权威资料")):
        assert phrase in _texts(detector.detect(_doc(text)), text, "vague_authority"), text


def test_traditional_text_is_detected_with_original_offsets(detector):
    text = "最新數據顯示，中國正在以前所未有的力度拋售美國國債。麻煩您點擊一下“關注”。它究竟是巧合嗎？"
    assert to_simplified(text) != text and len(to_simplified(text)) == len(text)
    spans = detector.detect(_doc(text))
    assert "最新數據顯示" in _texts(spans, text, "vague_authority")
    assert "前所未有" in _texts(spans, text, "exaggeration")
    assert "麻煩您點擊一下“關注”" in _texts(spans, text, "engagement_bait")
    assert "它究竟是巧合嗎？" in _texts(spans, text, "rhetorical_question")


@pytest.mark.parametrize("prefix", ["😀", "𠮷。", "👍🏽🇨🇳𠮷\n", "\u200b\ufeff", "😀𠮷😀。"])
def test_astral_characters_before_spans_keep_offsets(detector, prefix):
    body = "最新数据显示，美国是帮凶吗？这已是大势所趋。"
    plain = detector.detect(_doc(body))
    shifted = detector.detect(_doc(prefix + body))
    assert plain, "the body should have devices"
    n = len(prefix)
    assert [(s.start + n, s.end + n, s.label) for s in plain] == [(s.start, s.end, s.label) for s in shifted]
    text = prefix + body
    for s in shifted:
        assert text[s.start:s.end] == body[s.start - n:s.end - n]


def test_quoted_device_takes_its_quote_marks_and_reported_speech_is_skipped(detector):
    text = "东京打出了一套“组合拳”。"
    assert _texts(detector.detect(_doc(text)), text, "loaded_metaphor") == ["“组合拳”"]
    quoted = "发言人张三说：“这是釜底抽薪的做法，难道不是吗？”"
    spans = detector.detect(_doc(quoted))
    assert _texts(spans, quoted, "loaded_metaphor") == []
    assert _texts(spans, quoted, "rhetorical_question") == []


def test_same_label_never_overlaps_and_adjacent_spans_stay_apart(detector):
    text = "这是美元霸权主义。帮凶帮凶。"
    spans = detector.detect(_doc(text))
    validate_spans(text, spans, set(load_taxonomy().ids))
    assert _texts(spans, text, "name_calling") == ["美元霸权", "帮凶", "帮凶"] or \
        _texts(spans, text, "name_calling") == ["霸权主义", "帮凶", "帮凶"]
    calls = [s for s in spans if s.label == "name_calling" and text[s.start:s.end] == "帮凶"]
    assert calls[0].end == calls[1].start  # adjacent, not merged


def test_resolve_overlaps_keeps_longer_then_higher_score():
    spans = [Span(0, 4, "x", 0.5, "a"), Span(2, 8, "x", 0.4, "b"), Span(8, 10, "x", 0.9, "c"),
             Span(3, 5, "y", 0.9, "d"), Span(3, 5, "y", 0.95, "e")]
    out = resolve_overlaps(spans)
    assert [(s.start, s.end, s.label, s.source) for s in out] == [(2, 8, "x", "b"), (3, 5, "y", "e"),
                                                                   (8, 10, "x", "c")]


def test_boundaries_are_trimmed():
    text = "  “最新数据显示”，"
    assert trim(text, 0, len(text)) == (2, 10)  # balanced quotes stay with the device
    assert trim("，这是巧合吗？", 0, 7, keep_end="？") == (1, 7)
    assert trim("。，", 0, 2) is None


@pytest.mark.parametrize("path", sorted((REPO / "seeds").glob("*.txt")), ids=lambda p: p.stem[:3])
def test_seed_spans_are_valid_and_trimmed(detector, path):
    taxonomy = load_taxonomy()
    for doc in ingest_file(path):
        spans = detector.detect(doc)
        validate_spans(doc.text, spans, set(taxonomy.ids), where=path.name)
        for s in spans:
            piece = doc.text[s.start:s.end]
            assert piece == piece.strip(), piece
            assert piece[0] not in "，,。：:；;" and piece[-1] not in "，,：:；;", piece
            assert 0 < s.score <= 1 and s.source


def test_clickbait_probability(detector):
    assert detector.clickbait_probability(None) is None
    assert detector.clickbait_probability("  ") is None
    bait = detector.clickbait_probability("特朗普抵京前，美国先通知中国，不想谈2件事，中方大规模抛美债")
    assert bait is not None and bait >= 0.5
    assert detector.clickbait_probability("國務院召開常務會議 部署穩就業工作") < 0.2
    hot = detector.clickbait_probability("震驚！他竟然做了這件事")
    assert hot is not None and hot > detector.clickbait_probability("他做了一件事")


def test_lexicons_change_the_version_and_bad_lexicons_are_reported(tmp_path, detector):
    lex = tmp_path / "lexicons"
    shutil.copytree(lexicon_dir(), lex)
    same = RulesDetector(lexicons=lex)
    assert same.version == detector.version
    path = lex / "name_calling.yaml"
    extra = "  - {term: 纸糊的巨人, score: 0.7}\n"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    changed = RulesDetector(lexicons=lex)
    assert changed.version != detector.version
    text = "他们不过是纸糊的巨人。"
    assert _texts(changed.detect(_doc(text)), text, "name_calling") == ["纸糊的巨人"]

    (lex / "zz_bad.yaml").write_text("label: no_such_label\nterms: [x]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=r"zz_bad\.yaml"):
        RulesDetector(lexicons=lex)
    (lex / "zz_bad.yaml").write_text("label: name_calling\nterms: [走狗, 走狗]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="listed twice"):
        RulesDetector(lexicons=lex)
    (lex / "zz_bad.yaml").write_text("label: name_calling\npatterns: ['(unclosed']\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="bad regex"):
        RulesDetector(lexicons=lex)


def test_reported_and_interview_questions_are_not_rhetorical(detector):
    for text in ("有网友说，台湾越来越穷，去问问民进党为什么？",
                 "问：据报道，日本将跟进。中方对此有何评论？\n答：我们注意到有关报道。",
                 "记者：这项政策何时落地？"):
        assert _texts(detector.detect(_doc(text)), text, "rhetorical_question") == [], text
    text = "我们不禁要问，这难道是巧合吗？"
    assert _texts(detector.detect(_doc(text)), text, "rhetorical_question") == [text]


def test_worked_examples_without_labels_stay_clean(detector):
    """The guidelines' "no label" examples (named source, named speaker's quote) get no spans."""
    for ex in load_taxonomy().raw.get("worked_examples") or []:
        if not ex.get("spans"):
            assert detector.detect(_doc(ex["text"])) == [], ex["text"]


def test_reader_questions_are_engagement_bait_not_rhetorical(detector):
    """D16/D78: a question asking the readers to respond is engagement_bait (without its ？),
    and the rhetorical_question span on the same sentence yields to it; a teaser question the
    article answers itself stays rhetorical; a second-person yes/no question counts only in the
    closing block."""
    text = "正文很长。" * 100 + "看完这些，你被记忆骗到了吗？大家还遇过哪些这样的事？"
    spans = detector.detect(_doc(text))
    assert _texts(spans, text, "engagement_bait") == ["看完这些，你被记忆骗到了吗", "大家还遇过哪些这样的事"]
    assert _texts(spans, text, "rhetorical_question") == []
    early = "你被记忆骗到了吗？" + "正文很长。" * 100
    spans = detector.detect(_doc(early))
    assert _texts(spans, early, "engagement_bait") == []
    assert _texts(spans, early, "rhetorical_question") == ["你被记忆骗到了吗？"]
    teaser = "你知道这座桥为什么不会塌吗？"
    assert _texts(detector.detect(_doc(teaser)), teaser, "rhetorical_question") == [teaser]
    quoted = "他问道：“大家觉得哪一个更好？”"
    assert _texts(detector.detect(_doc(quoted)), quoted, "engagement_bait") == []


def test_calls_to_action_at_the_end_are_engagement_bait(detector):
    for text, phrase in (("点击文末左下角“阅读原文”查看完整榜单。", "点击文末左下角“阅读原文”查看完整榜单"),
                         ("别急着走，文末有福利！", "文末有福利"),
                         ("不知道大家怎么看呢。", "不知道大家怎么看呢"),
                         ("数量有限，快来参与吧！", "数量有限"),
                         ("快来评论区说一说吧。", "快来评论区说一说吧")):
        assert phrase in _texts(detector.detect(_doc(text)), text, "engagement_bait"), text
    plain = "他在文章里引用了原文的说法。"
    assert _texts(detector.detect(_doc(plain)), plain, "engagement_bait") == []


@pytest.mark.parametrize("prefix", ["😀", "𠮷", "👍🏽🇨🇳\n"])
def test_new_rules_keep_offsets_after_astral_characters_and_in_traditional(detector, prefix):
    body = "據媒體此前報道，日本意在拉攏菲律賓。文章最後，各位讀者覺得呢？"
    assert len(to_simplified(body)) == len(body)
    text = prefix + body
    spans = detector.detect(_doc(text))
    assert "據媒體此前報道" in _texts(spans, text, "vague_authority")
    assert "日本意在拉攏菲律賓" in _texts(spans, text, "speculation")
    assert "文章最後，各位讀者覺得呢" in _texts(spans, text, "engagement_bait")
    plain = detector.detect(_doc(body))
    n = len(prefix)
    assert [(s.start + n, s.end + n, s.label) for s in plain] == [(s.start, s.end, s.label) for s in spans]


def test_unnamed_media_and_passive_attribution_but_not_named_media(detector):
    for text, phrase in (("美媒称，这是两党担忧加深的信号。", "美媒称"),
                         ("据多家日媒消息，两国将举行会谈。", "据多家日媒消息"),
                         ("他一直被认为是改革派。", "被认为"),
                         ("不少网友认为，这次处罚太轻。", "不少网友认为")):
        assert phrase in _texts(detector.detect(_doc(text)), text, "vague_authority"), text
    for text in ("《纽约时报》网站报道称，会谈将于下周举行。", "该公司被称为行业龙头。"):
        assert _texts(detector.detect(_doc(text)), text, "vague_authority") == [], text


def test_press_questions_and_bare_ascii_question_marks_are_not_rhetorical(detector):
    for text in ("请问中方的立场是什么？", "有记者提问，中方对此有何评论？",
                 "2017年《三生三世十里桃花》?", "郝歆编辑 |?"):
        assert _texts(detector.detect(_doc(text)), text, "rhetorical_question") == [], text
    for text in ("这真的只是巧合吗?", "它究竟是巧合,还是一记精准的釜底抽薪?"):
        assert _texts(detector.detect(_doc(text)), text, "rhetorical_question") == [text]


def test_yields_to_must_name_other_labels(tmp_path):
    lex = tmp_path / "lexicons"
    shutil.copytree(lexicon_dir(), lex)
    path = lex / "rhetorical_question.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "yields_to: [engagement_bait]", "yields_to: [no_such_label]"), encoding="utf-8")
    with pytest.raises(LexiconError, match="yields_to"):
        RulesDetector(lexicons=lex)


def test_couplet_terms_match_with_or_without_their_punctuation(detector):
    """得道多助，失道寡助 in the lexicon also finds 得道多助失道寡助 and 得道多助, 失道寡助."""
    for text in ("正所谓得道多助失道寡助。", "正所谓得道多助, 失道寡助。", "正所谓得道多助，失道寡助。"):
        got = _texts(detector.detect(_doc(text)), text, "inevitability")
        assert got and got[0].startswith("得道多助") and got[0].endswith("失道寡助"), (text, got)
    text = "得道多助的人很多。"
    assert _texts(detector.detect(_doc(text)), text, "inevitability") == []
