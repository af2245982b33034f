"""Offset map from a cleaned text back to the raw input it came from.

Cleaning only deletes stretches of the raw text (chrome lines, markup) and replaces characters
one for one (OpenCC t2s, whitespace folding), so the map is a sorted list of aligned segments
``(clean_start, raw_start, length)``: clean[c:c+n] came from raw[r:r+n].
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(slots=True)
class OffsetMap:
    segments: list[tuple[int, int, int]] = field(default_factory=list)

    @classmethod
    def identity(cls, length: int) -> OffsetMap:
        return cls([(0, 0, length)] if length else [])

    def append(self, clean_start: int, raw_start: int, length: int) -> None:
        """Add a segment; adjacent segments that continue each other are merged."""
        if length <= 0:
            return
        if self.segments:
            c, r, n = self.segments[-1]
            if clean_start < c + n:
                raise ValueError("segments must be appended in clean-text order")
            if c + n == clean_start and r + n == raw_start:
                self.segments[-1] = (c, r, n + length)
                return
        self.segments.append((clean_start, raw_start, length))

    @property
    def clean_length(self) -> int:
        if not self.segments:
            return 0
        c, _, n = self.segments[-1]
        return c + n

    def to_raw(self, i: int) -> int:
        """Raw index of the clean character at index ``i`` (0 <= i < clean_length)."""
        if not 0 <= i < self.clean_length:
            raise IndexError(f"clean offset {i} outside [0, {self.clean_length})")
        k = bisect.bisect_right(self.segments, (i, float("inf"), 0)) - 1
        c, r, n = self.segments[k]
        if not c <= i < c + n:
            raise IndexError(f"clean offset {i} is not covered by the map")
        return r + (i - c)

    def span_to_raw(self, start: int, end: int) -> tuple[int, int]:
        """Half-open clean span -> half-open raw span (from its first to its last character)."""
        if end <= start:
            raise ValueError(f"empty span [{start}, {end})")
        return self.to_raw(start), self.to_raw(end - 1) + 1

    def to_json(self) -> list[list[int]]:
        return [list(s) for s in self.segments]

    @classmethod
    def from_json(cls, data: list[list[int]]) -> OffsetMap:
        return cls([(int(c), int(r), int(n)) for c, r, n in data])
