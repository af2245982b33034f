"""The annotation guidelines (labels/guidelines.md), generated from the taxonomy.

``render_guidelines(taxonomy)`` is deterministic Markdown in Chinese and English: purpose, labels at
a glance, one section per label (names, definition, include/exclude, examples, counter-examples,
nearest SemEval-2023 technique, colour, hotkey), span boundary rules, the decisions (D1…), worked
examples and the decisions log. `huashu labels guidelines` writes it; a test fails when the
committed file is stale.
"""

from __future__ import annotations

from pathlib import Path

from huashu.paths import labels_dir
from huashu.taxonomy import Label, Taxonomy


def guidelines_path() -> Path:
    return labels_dir() / "guidelines.md"


PURPOSE_ZH = (
    "话术（huashu）标出中文新闻和自媒体文章中推动读者的修辞与宣传手法：诱导关注、无名信源、"
    "渲染性比喻、情绪化用语、贴标签、夸张、反问、臆测动机、必然论口号和标题党。标注的目的不是判断"
    "文章观点的对错，而是让读者、编辑和模型看见**文章是怎样说服人的**。标注结果用于训练和评估"
    "检测模型，也是模型预标注之后由人核对的标准答案。"
)
PURPOSE_EN = (
    "Huashu marks the rhetorical and propaganda devices Chinese news and self-media articles use to "
    "push readers: engagement bait, unsourced authority, loaded metaphors, loaded language, name "
    "calling, exaggeration, rhetorical questions, speculation about intent, inevitability slogans "
    "and clickbait headlines. Annotation does not judge whether an article's view is right; it makes "
    "visible **how the article persuades**. The annotations train and evaluate the detector, and "
    "are the gold standard people check the model's pre-annotations against."
)
HOW_TO = [
    ("在 Label Studio 中选中承载手法的最短片段，按热键或点击标签。",
     "In Label Studio select the smallest stretch that carries the device, then press the hotkey or "
     "click the label."),
    ("不同标签可以重叠（“七寸”既可在反问句内，也单独是渲染性比喻）；同一标签不重叠、不合并相邻片段。",
     "Different labels may overlap (七寸 inside a rhetorical question is also a loaded metaphor); the "
     "same label never overlaps itself and adjacent spans stay separate."),
    ("模型预标注只是建议：删去错误的，补上遗漏的，调整边界。",
     "Model pre-annotations are suggestions: delete the wrong ones, add the missing ones, fix the "
     "boundaries."),
    ("拿不准时，按下文“裁定”处理；裁定未覆盖的情况记入决定记录。",
     "When unsure apply the decisions below; cases they do not cover go into the decisions log."),
]


def _bullets(items: tuple[str, ...] | list[str]) -> list[str]:
    return [f"- {x}" for x in items] if items else ["- —"]


def _label_section(i: int, label: Label) -> list[str]:
    level = "整行标题 / the whole headline" if label.span_level == "headline" else "正文片段 / body span"
    out = [
        f"### {i}. {label.zh} · {label.en} (`{label.id}`)",
        "",
        "| | |",
        "|---|---|",
        f"| 标签 id / label id | `{label.id}` |",
        f"| 中文名 / Chinese name | {label.zh} |",
        f"| 英文名 / English name | {label.en} |",
        f"| 热键 / hotkey | `{label.hotkey}` |",
        f"| 颜色 / colour | `{label.colour}` |",
        f"| 范围 / span | {level} |",
        f"| SemEval-2023 最接近的技巧 / nearest SemEval-2023 technique | {label.semeval or '—'} |",
        "",
        f"**定义**：{label.definition_zh}",
        "",
        f"**Definition**: {label.definition_en}",
        "",
        "**包括 / Include**",
        "",
        *_bullets(label.include),
        "",
        "**不包括 / Exclude**",
        "",
        *_bullets(label.exclude),
        "",
        "**示例 / Examples**",
        "",
        *_bullets([f"「{x}」" for x in label.examples]),
        "",
        "**反例（不标此标签）/ Counter-examples (not this label)**",
        "",
        *_bullets([f"「{x}」" for x in label.counter_examples]),
        "",
    ]
    return out


def _worked_examples(taxonomy: Taxonomy) -> list[str]:
    examples = taxonomy.raw.get("worked_examples") or []
    if not examples:
        return []
    lines = ["## 标注示例 / Worked examples", ""]
    for i, ex in enumerate(examples, 1):
        lines += [f"### 示例 / Example {i}", "", f"> {ex['text']}", ""]
        spans = ex.get("spans") or []
        if spans:
            lines += ["| 标签 label | 片段 span |", "|---|---|"]
            for sp in spans:
                label = taxonomy[sp["label"]]
                lines.append(f"| `{label.id}` {label.zh} | 「{sp['text']}」 |")
        else:
            lines.append("不标任何标签 / no label.")
        if ex.get("note"):
            lines += ["", str(ex["note"]).strip()]
        lines.append("")
    return lines


def render_guidelines(taxonomy: Taxonomy) -> str:
    """The guidelines Markdown for ``taxonomy`` (deterministic)."""
    lines: list[str] = [
        "# 话术标注指南 / Huashu annotation guidelines",
        "",
        f"<!-- generated from labels/taxonomy.yaml (version {taxonomy.version}) by "
        "`huashu labels guidelines`; edit the yaml, not this file -->",
        "",
        f"Taxonomy version {taxonomy.version} · {len(taxonomy.labels)} labels. "
        "This file, the Label Studio config (`huashu labels config`) and the model's label maps are "
        "all generated from `labels/taxonomy.yaml`; a test fails if they disagree.",
        "",
        "## 目的 / Purpose",
        "",
        PURPOSE_ZH,
        "",
        PURPOSE_EN,
        "",
        "## 怎样标注 / How to annotate",
        "",
    ]
    for zh, en in HOW_TO:
        lines += [f"- {zh}", f"  {en}"]
    lines += [
        "",
        "## 标签一览 / Labels at a glance",
        "",
        "| 热键 hotkey | id | 中文 | English | 颜色 colour | SemEval-2023 |",
        "|---|---|---|---|---|---|",
    ]
    for label in taxonomy.labels:
        lines.append(f"| `{label.hotkey}` | `{label.id}` | {label.zh} | {label.en} | `{label.colour}` | "
                     f"{label.semeval or '—'} |")
    lines += ["", "## 标签 / Labels", ""]
    for i, label in enumerate(taxonomy.labels, 1):
        lines += _label_section(i, label)
    lines += ["## 片段边界 / Span boundaries", ""]
    for rule in taxonomy.boundary_rules:
        zh, _, en = rule.partition(" / ")
        lines.append(f"- {zh.strip()}")
        if en:
            lines.append(f"  {en.strip()}")
    lines += ["", "## 裁定 / Decisions", "",
              "These settle the usual disagreements; cite them by id (D1…) in review comments.", ""]
    for d in taxonomy.decisions:
        lines += [f"### {d.get('id', '?')}", "", str(d.get("zh", "")).strip(), "",
                  str(d.get("en", "")).strip(), ""]
    lines += _worked_examples(taxonomy)
    lines += [
        "## 决定记录 / Decisions log",
        "",
        "Every change of the label set or of a decision, newest last. To change the guidelines: edit "
        "`labels/taxonomy.yaml` (labels, decisions and an entry in `decisions_log`), run "
        "`huashu labels guidelines`, and commit the yaml and this file together. / "
        "修改指南：编辑 `labels/taxonomy.yaml`（标签、裁定，并在 `decisions_log` 中加一条记录），"
        "运行 `huashu labels guidelines`，将 yaml 和本文件一起提交。",
        "",
        "| 日期 date | 变更 change | 原因 why |",
        "|---|---|---|",
    ]
    for entry in taxonomy.raw.get("decisions_log") or []:
        why = str(entry.get("why", "")).strip()
        if entry.get("why_zh"):
            why = f"{entry['why_zh']}<br>{why}" if why else str(entry["why_zh"])
        change = str(entry.get("change", "")).replace("|", "\\|")
        lines.append(f"| {entry.get('date', '')} | {change} | {why.replace('|', chr(92) + '|')} |")
    lines.append("")
    return "\n".join(lines)


def write_guidelines(taxonomy: Taxonomy, path: Path | None = None) -> Path:
    path = path or guidelines_path()
    path.write_text(render_guidelines(taxonomy), encoding="utf-8")
    return path


def guidelines_stale(taxonomy: Taxonomy, path: Path | None = None) -> bool:
    """True when the file at ``path`` differs from what the taxonomy generates (or is missing)."""
    path = path or guidelines_path()
    try:
        return path.read_text(encoding="utf-8") != render_guidelines(taxonomy)
    except FileNotFoundError:
        return True
