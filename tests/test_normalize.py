"""OpenCC t2s that keeps offsets: len(out) == len(text), out[i] corresponds to text[i]."""

from __future__ import annotations

from pathlib import Path

import pytest

from huashu import normalize
from huashu.normalize import to_simplified

REPO = Path(__file__).resolve().parents[1]


def _seed(prefix: str) -> str:
    (path,) = (REPO / "seeds").glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("prefix", ["000", "003"])
def test_traditional_seeds_convert_position_for_position(prefix):
    text = _seed(prefix)
    out = to_simplified(text)
    assert len(out) == len(text)
    assert out != text  # it did convert
    # every character is either unchanged or its own single-character conversion, at the same index
    changed = [i for i, (a, b) in enumerate(zip(text, out, strict=True)) if a != b]
    assert len(changed) > 100
    for i in changed:
        assert to_simplified(text[i]) == out[i]
    # line structure and punctuation untouched
    assert [len(line) for line in out.split("\n")] == [len(line) for line in text.split("\n")]


def test_known_phrases_land_at_the_same_offsets():
    text = _seed("000")
    for trad, simp in [("麻煩您點擊一下“關注”", "麻烦您点击一下“关注”"), ("最新數據顯示", "最新数据显示"),
                       ("特別聲明", "特别声明"), ("釜底抽薪", "釜底抽薪")]:
        i = text.index(trad)
        assert to_simplified(text)[i:i + len(trad)] == simp
    text3 = _seed("003")
    i = text3.index("歡迎收看小蒼時事觀察欄目")
    assert to_simplified(text3)[i:i + 12] == "欢迎收看小苍时事观察栏目"


def test_simplified_text_is_unchanged():
    for prefix in ("001", "002", "004"):
        text = _seed(prefix)
        out = to_simplified(text)
        assert len(out) == len(text)
        diff = sum(a != b for a, b in zip(text, out, strict=True))
        assert diff <= 3, f"seed {prefix}: simplified text changed at {diff} places"


def test_astral_characters_and_emoji_pass_through():
    text = "𠮷野家😀與👨‍👩‍👧關注🇨🇳麵包"
    out = to_simplified(text)
    assert len(out) == len(text)
    assert out == "𠮷野家😀与👨‍👩‍👧关注🇨🇳面包"
    assert out.index("𠮷") == 0 and out.index("😀") == text.index("😀")


def test_falls_back_char_by_char_when_a_phrase_changes_length(monkeypatch):
    class LengthChanging:
        def convert(self, s: str) -> str:  # a converter whose phrase table changes length
            return s.replace("衛生間", "卫生间儿").replace("衛", "卫").replace("間", "间")

    monkeypatch.setattr(normalize, "_t2s", lambda: LengthChanging())
    normalize._char_t2s.cache_clear()
    try:
        text = "這個衛生間很乾淨"
        out = to_simplified(text)
        assert len(out) == len(text)
        assert out[2:5] == "卫生间"
    finally:
        normalize._char_t2s.cache_clear()


def test_converter_is_cached():
    assert normalize._t2s() is normalize._t2s()


def test_skipping_unchangeable_text_gives_opencc_output(monkeypatch):
    """Text with no character OpenCC's t2s dictionaries can change skips the phrase matching (most
    input is simplified already); the output must be exactly what full conversion gives."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "seeds").glob("*.txt"))]
    texts += ["乾隆年間的乾燥天氣", "一目瞭然😀𠮷野家", "他說：“這是釜底抽薪。”",
              "纯简体文本，没有繁体字。", "ASCII only"]
    fast = [to_simplified(t) for t in texts]
    assert normalize._changeable() is not None and "這" in normalize._changeable()
    assert "这" not in normalize._changeable()
    monkeypatch.setattr(normalize, "_changeable", lambda: None)  # convert every clause
    assert [to_simplified(t) for t in texts] == fast
    assert fast[-2] == texts[-2] and fast[7] == "他说：“这是釜底抽薪。”"
