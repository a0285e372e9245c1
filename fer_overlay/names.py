"""Clean up the names meeting apps print on tiles, so one student has one key.

Zoom, Meet and Teams decorate names: "(Host)", "(Co-host)", "(me)", pronouns,
breakout-room suffixes ("| Room 12"), "(Guest)", "(External)", stray whitespace and
OCR-confused separators. The display name keeps the student's own capitalisation;
the key is case- and accent-insensitive for matching.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_ROLE = r"host|co-?host|me|guest|external|presenter|organi[sz]er|unverified|you"
_PRONOUNS = r"(?:she|he|they|ze|xe|it)\s*/\s*(?:her|him|them|hers|his|theirs|zir|xem|its)(?:\s*/\s*\w+)?"
_PAREN = re.compile(rf"[\(\[]\s*(?:{_ROLE}|{_PRONOUNS})\s*[\)\]]", re.IGNORECASE)
_BARE_PRONOUNS = re.compile(rf"(?:^|\s){_PRONOUNS}(?=\s|$)", re.IGNORECASE)
_SUFFIX = re.compile(r"\s*[|¦｜/\\-]\s*(?:room|breakout|group|team|table)\b.*$", re.IGNORECASE)
_ROOM_ONLY = re.compile(r"\s*[|¦｜]\s*.*$")
_JUNK = re.compile(r"[^\w\s'\-\.]", re.UNICODE)


@dataclass(frozen=True)
class StudentName:
    display: str  # as shown to the teacher, e.g. "Maria López"
    key: str  # for matching, e.g. "maria lopez"

    def __bool__(self) -> bool:
        return bool(self.key)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalise(raw: str | None) -> StudentName | None:
    """A StudentName from a tile label, or None when nothing name-like is left."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw)
    text = _PAREN.sub(" ", text)
    text = _SUFFIX.sub("", text)
    text = _ROOM_ONLY.sub("", text)
    text = _BARE_PRONOUNS.sub(" ", text)
    text = _JUNK.sub(" ", text)
    text = " ".join(text.split()).strip(" -.'")
    if len(text) < 2 or not any(c.isalpha() for c in text):
        return None
    if text.isupper() or text.islower():
        # All-caps OCR output or lazy typing: present it in name case, keep the key the same.
        text = " ".join(w[:1].upper() + w[1:].lower() for w in text.split())
    return StudentName(display=text, key=" ".join(_fold(text).split()))
