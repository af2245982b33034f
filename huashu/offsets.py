"""Offset map from a cleaned text back to the raw input it came from.

Cleaning only deletes stretches of the raw text (chrome lines, markup) and replaces characters
one for one (OpenCC t2s, whitespace folding), so the map is a sorted list of aligned segments
``(clean_start, raw_start, length)``: clean[c:c+n] came from raw[r:r+n]. A character that
stands for a longer raw stretch (an HTML entity: ``&amp;`` -> ``&``) is a segment
``(clean_start, raw_start, 1, raw_length)``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(slots=True)
class OffsetMap:
    segments: list[tuple[int, ...]] = field(default_factory=list)

    @classmethod
    def identity(cls, length: int) -> OffsetMap:
        return cls([(0, 0, length)] if length else [])

    def append(self, clean_start: int, raw_start: int, length: int) -> None:
        """Add a segment; adjacent segments that continue each other are merged."""
        if length <= 0:
            return
        if self.segments:
            c, r, n = self.segments[-1][:3]
            if clean_start < c + n:
                raise ValueError("segments must be appended in clean-text order")
            if len(self.segments[-1]) == 3 and c + n == clean_start and r + n == raw_start:
                self.segments[-1] = (c, r, n + length)
                return
        self.segments.append((clean_start, raw_start, length))

    def append_stretch(self, clean_start: int, raw_start: int, raw_length: int) -> None:
        """One clean character that came from ``raw[raw_start:raw_start + raw_length]``."""
        if raw_length == 1:
            self.append(clean_start, raw_start, 1)
            return
        if self.segments and clean_start < self.segments[-1][0] + self.segments[-1][2]:
            raise ValueError("segments must be appended in clean-text order")
        self.segments.append((clean_start, raw_start, 1, raw_length))

    @property
    def clean_length(self) -> int:
        if not self.segments:
            return 0
        c, _, n = self.segments[-1][:3]
        return c + n

    def _segment(self, i: int) -> tuple[int, ...]:
        if not 0 <= i < self.clean_length:
            raise IndexError(f"clean offset {i} outside [0, {self.clean_length})")
        k = bisect.bisect_right(self.segments, (i, float("inf"))) - 1
        seg = self.segments[k]
        if not seg[0] <= i < seg[0] + seg[2]:
            raise IndexError(f"clean offset {i} is not covered by the map")
        return seg

    def to_raw(self, i: int) -> int:
        """Raw index where the clean character at index ``i`` starts (0 <= i < clean_length)."""
        c, r = self._segment(i)[:2]
        return r + (i - c)

    def to_raw_end(self, i: int) -> int:
        """Raw index just past the raw stretch the clean character ``i`` came from."""
        seg = self._segment(i)
        if len(seg) == 4:
            return seg[1] + seg[3]
        return seg[1] + (i - seg[0]) + 1

    def span_to_raw(self, start: int, end: int) -> tuple[int, int]:
        """Half-open clean span -> half-open raw span (from its first to its last character)."""
        if end <= start:
            raise ValueError(f"empty span [{start}, {end})")
        return self.to_raw(start), self.to_raw_end(end - 1)

    def to_json(self) -> list[list[int]]:
        return [list(s) for s in self.segments]

    @classmethod
    def from_json(cls, data: list[list[int]]) -> OffsetMap:
        return cls([tuple(int(x) for x in seg) for seg in data])
