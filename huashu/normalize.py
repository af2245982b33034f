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
from pathlib import Path

# OpenCC phrases never cross punctuation or whitespace, so clauses are the unit of conversion.
_CLAUSE = re.compile(r"[^\s。！？，、；：,.!?;:“”‘’\"'（）()《》〈〉【】\[\]]+")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # opencc-python-reimplemented

    return OpenCC("t2s")


@lru_cache(maxsize=1)
def _changeable() -> frozenset[str] | None:
    """Every character OpenCC's t2s dictionaries can change: the characters at the positions where
    a key differs from one of its values (all of a key's characters when the lengths differ). A
    text with none of them comes out of OpenCC unchanged, so it can skip the (pure-Python, slow)
    phrase matching: most input is simplified already. None when the dictionaries are not where
    opencc-python-reimplemented keeps them (then every clause is converted)."""
    import opencc

    folder = Path(opencc.__file__).parent / "dictionary"
    chars: set[str] = set()
    try:
        for name in ("TSCharacters.txt", "TSPhrases.txt"):
            for line in (folder / name).read_text(encoding="utf-8").splitlines():
                key, _, values = line.partition("\t")
                for value in values.split():
                    if len(value) != len(key):
                        chars.update(key)
                    else:
                        chars.update(k for k, v in zip(key, value, strict=True) if k != v)
    except OSError:
        return None
    return frozenset(chars)


def _may_change(s: str) -> bool:
    changeable = _changeable()
    return changeable is None or not changeable.isdisjoint(s)


@lru_cache(maxsize=65536)
def _char_t2s(ch: str) -> str:
    if ord(ch) > 0xFFFF:
        return ch
    out = _t2s().convert(ch)
    return out if len(out) == 1 else ch


def _is_cjk_free(s: str) -> bool:
    return all(ord(c) < 0x2E80 for c in s)


def _convert_clause(clause: str) -> str:
    if _is_cjk_free(clause) or not _may_change(clause):
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
    if _is_cjk_free(text) or not _may_change(text):
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
