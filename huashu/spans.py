"""Span and document types: the contract every step shares.

Offsets are Python code points (``text[start:end]``) into the text they belong to: never UTF-16
units, never bytes. A span is half-open, ``0 <= start < end <= len(text)``.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from huashu.offsets import OffsetMap


def text_hash(text: str) -> str:
    """sha256 of the UTF-8 text: ties standoff annotations to the exact text they index."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, order=True)
class Span:
    start: int
    end: int
    label: str
    score: float = 1.0
    source: str = ""  # which rule / model produced it, or the annotator

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end):
            raise ValueError(f"bad span [{self.start}, {self.end}) for label {self.label!r}")

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

    def to_dict(self, text: str | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label,
                             "score": round(float(self.score), 4)}
        if self.source:
            d["source"] = self.source
        if text is not None:
            d["text"] = text[self.start:self.end]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Span:
        return cls(int(d["start"]), int(d["end"]), str(d["label"]), float(d.get("score", 1.0)),
                   str(d.get("source", "")))


class SpanError(ValueError):
    """A span that breaks the contract (outside the text, unknown label, same-label overlap)."""


def validate_spans(text: str, spans: list[Span], labels: set[str] | None = None,
                   where: str = "") -> None:
    """Raise SpanError naming the first span that is outside the text, has an unknown label, or
    overlaps another span of the same label."""
    prefix = f"{where}: " if where else ""
    for s in spans:
        if s.end > len(text):
            raise SpanError(f"{prefix}span [{s.start},{s.end}) {s.label} ends past the text "
                            f"(length {len(text)})")
        if labels is not None and s.label not in labels:
            raise SpanError(f"{prefix}span [{s.start},{s.end}) has unknown label {s.label!r}")
    by_label: dict[str, list[Span]] = {}
    for s in spans:
        by_label.setdefault(s.label, []).append(s)
    for label, group in by_label.items():
        group.sort()
        for a, b in itertools.pairwise(group):
            if a.overlaps(b):
                raise SpanError(f"{prefix}{label} spans overlap: [{a.start},{a.end}) "
                                f"{text[a.start:a.end]!r} and [{b.start},{b.end}) {text[b.start:b.end]!r}")


@dataclass(slots=True)
class Document:
    """One article. ``text`` is the cleaned text that spans index; ``offsets`` maps it back to
    the raw input (identity when the input needed no cleaning). If the article has a headline it
    is the first line of ``text`` and ``meta['title_span']`` gives its [start, end)."""

    id: str
    text: str
    title: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    offsets: OffsetMap | None = None

    @property
    def sha256(self) -> str:
        return text_hash(self.text)

    @property
    def title_span(self) -> tuple[int, int] | None:
        ts = self.meta.get("title_span")
        return (int(ts[0]), int(ts[1])) if ts else None

    def to_raw(self, span: Span) -> Span:
        """The same span in raw-input coordinates."""
        if self.offsets is None:
            return span
        start, end = self.offsets.span_to_raw(span.start, span.end)
        return Span(start, end, span.label, span.score, span.source)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["offsets"] = self.offsets.to_json() if self.offsets is not None else None
        d["sha256"] = self.sha256
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Document:
        offsets = OffsetMap.from_json(d["offsets"]) if d.get("offsets") else None
        return cls(id=str(d["id"]), text=d["text"], title=d.get("title"), source=d.get("source", ""),
                   meta=dict(d.get("meta") or {}), offsets=offsets)
