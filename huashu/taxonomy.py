"""The taxonomy (labels/taxonomy.yaml) is the single source of truth for labels.

Everything label-shaped derives from it: the Label Studio config, the model's label maps, the
guidelines, the highlight colours. Adding a label is one edit of the yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from huashu.paths import taxonomy_path


@dataclass(frozen=True)
class Label:
    id: str
    zh: str
    en: str
    definition_zh: str
    definition_en: str
    colour: str
    hotkey: str
    semeval: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    counter_examples: tuple[str, ...] = ()
    span_level: str = "span"  # "span" (body text) or "headline" (whole title line)


@dataclass(frozen=True)
class Taxonomy:
    version: str
    labels: tuple[Label, ...]
    decisions: tuple[dict[str, str], ...] = ()
    boundary_rules: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def ids(self) -> list[str]:
        return [label.id for label in self.labels]

    def __getitem__(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)

    def __contains__(self, label_id: object) -> bool:
        return label_id in self.ids

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.ids)}

    @property
    def colours(self) -> dict[str, str]:
        return {label.id: label.colour for label in self.labels}


class TaxonomyError(ValueError):
    pass


def parse_taxonomy(data: dict[str, Any]) -> Taxonomy:
    labels = []
    seen: set[str] = set()
    hotkeys: set[str] = set()
    for item in data.get("labels") or []:
        try:
            label = Label(
                id=item["id"], zh=item["zh"], en=item["en"],
                definition_zh=item["definition_zh"].strip(), definition_en=item["definition_en"].strip(),
                colour=item["colour"], hotkey=str(item["hotkey"]), semeval=item.get("semeval", ""),
                include=tuple(item.get("include") or ()), exclude=tuple(item.get("exclude") or ()),
                examples=tuple(item.get("examples") or ()),
                counter_examples=tuple(item.get("counter_examples") or ()),
                span_level=item.get("span_level", "span"),
            )
        except KeyError as e:
            raise TaxonomyError(f"taxonomy label {item.get('id', '?')!r} misses field {e}") from None
        if label.id in seen:
            raise TaxonomyError(f"duplicate label id {label.id!r}")
        if label.hotkey in hotkeys:
            raise TaxonomyError(f"duplicate hotkey {label.hotkey!r} ({label.id})")
        seen.add(label.id)
        hotkeys.add(label.hotkey)
        labels.append(label)
    if not labels:
        raise TaxonomyError("taxonomy has no labels")
    return Taxonomy(version=str(data.get("version", "1")), labels=tuple(labels),
                    decisions=tuple(data.get("decisions") or ()),
                    boundary_rules=tuple(data.get("boundary_rules") or ()), raw=data)


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    return _load(str(path or taxonomy_path()))


@lru_cache(maxsize=8)
def _load(path: str) -> Taxonomy:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"taxonomy file not found: {path}") from None
    return parse_taxonomy(data)
