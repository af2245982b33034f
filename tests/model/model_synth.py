"""Synthetic annotated articles for the model tests (gold does not exist yet in CI)."""

from __future__ import annotations

import random

from huashu.spans import Document, Span
from huashu.train.dataset import Example, Headline

DEVICES = {
    "engagement_bait": ["麻烦您点击一下“关注”", "欢迎在评论区留下你的看法", "麻煩您點擊一下“關注”"],
    "vague_authority": ["有分析人士指出", "最新数据显示", "據了解", "明眼人都能看出"],
    "loaded_metaphor": ["釜底抽薪", "七寸", "烫手的山芋", "组合拳"],
    "rhetorical_question": ["难道这不是一场闹剧吗？", "这难道还不够清楚吗？"],
    "exaggeration": ["史无前例", "前所未有的打击"],
    "speculation": ["恐怕很快就会崩盘", "或许早已心知肚明"],
}
FILLER = [
    "11月11日晚，市羽毛球公开赛在新体育馆结束了全部单打项目的比赛。",
    "北京市统计局公布了前三季度的经济数据，",
    "会议由市政府办公厅主持，",
    "記者從相關部門獲悉，",
    "该公司表示将继续扩大生产规模。",
    "😀 𠮷野家在东京开设了新店，",
    "美国财政部公布的数据显示持有量下降。",
    "他在发布会上回答了记者的提问。",
]


def make_examples(n: int, seed: int = 0, prefix: str = "syn") -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        clickbait = i % 2 == 0
        title = "震惊！这件事终于真相大白了" if clickbait else f"统计局发布第{i}季度数据"
        text = title + "\n"
        spans = []
        if clickbait:
            spans.append(Span(0, len(title), "clickbait_title"))
        for _ in range(rng.randint(6, 14)):
            if rng.random() < 0.45 and i % 5 != 4:  # every fifth article is a plain report
                label = rng.choice(sorted(DEVICES))
                phrase = rng.choice(DEVICES[label])
                spans.append(Span(len(text), len(text) + len(phrase), label))
                text += phrase + ("，" if rng.random() < 0.5 else "。")
            else:
                text += rng.choice(FILLER)
        doc = Document(
            id=f"{prefix}-{i:03d}",
            text=text,
            title=title,
            source="synthetic",
            meta={"title_span": [0, len(title)]},
        )
        out.append(Example(doc, sorted(spans), "synthetic"))
    return out


def make_headlines(n: int, seed: int = 0) -> list[Headline]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < 0.5:
            out.append(
                Headline(rng.choice(["震惊！", "速看！", "太可怕了！"]) + f"第{i}个真相曝光", 1, f"h-{i}")
            )
        else:
            out.append(Headline(f"国务院召开常务会议 部署第{i}项工作", 0, f"h-{i}"))
    return out
