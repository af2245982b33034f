"""Text normalisation that keeps offsets exact.

``to_simplified`` converts traditional Chinese to simplified with OpenCC (t2s) but guarantees
``len(out) == len(text)`` and that ``out[i]`` is the conversion of ``text[i]``: any offset into the
simplified text is the same offset into the original. OpenCC converts phrase by phrase; a clause
whose conversion keeps its length is taken as converted, otherwise that clause falls back to
character-by-character conversion (and a character whose conversion is not exactly one character
is kept as it is). Characters outside the Basic Multilingual Plane (𠮷, emoji) always pass through.
"""

from __future__ import annotations

import re
from functools import lru_cache

# OpenCC phrases never cross punctuation or whitespace, so clauses are the unit of conversion.
_CLAUSE = re.compile(r"[^\s。！？，、；：,.!?;:“”‘’\"'（）()《》〈〉【】\[\]]+")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # opencc-python-reimplemented

    return OpenCC("t2s")


@lru_cache(maxsize=65536)
def _char_t2s(ch: str) -> str:
    if ord(ch) > 0xFFFF:
        return ch
    out = _t2s().convert(ch)
    return out if len(out) == 1 else ch


def _is_cjk_free(s: str) -> bool:
    return all(ord(c) < 0x2E80 for c in s)


def _convert_clause(clause: str) -> str:
    if _is_cjk_free(clause):
        return clause
    if any(ord(c) > 0xFFFF for c in clause):
        # keep astral characters exactly where they are: convert the BMP runs between them
        return "".join(_convert_clause(part) if ord(part[0]) <= 0xFFFF else part
                       for part in re.findall(r"[\U00010000-\U0010FFFF]+|[^\U00010000-\U0010FFFF]+", clause))
    out = _t2s().convert(clause)
    if len(out) == len(clause):
        return out
    return "".join(_char_t2s(c) for c in clause)


def to_simplified(text: str) -> str:
    """Traditional → simplified, position for position (``len(out) == len(text)``)."""
    if _is_cjk_free(text):
        return text
    parts: list[str] = []
    last = 0
    for m in _CLAUSE.finditer(text):
        parts.append(text[last:m.start()])
        parts.append(_convert_clause(m.group()))
        last = m.end()
    parts.append(text[last:])
    out = "".join(parts)
    if len(out) != len(text):  # cannot happen by construction; never let offsets drift
        raise AssertionError("to_simplified changed the text length")
    return out
