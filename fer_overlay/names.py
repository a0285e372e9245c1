"""Clean up the names meeting apps print on tiles, so one student has one key.

Zoom, Meet and Teams decorate names: "(Host)", "(Co-host)", "(me)", pronouns,
breakout-room suffixes ("| Room 12"), "(Guest)", "(External)", stray whitespace and
OCR-confused separators, and cut long names with "...". The display name keeps the
student's own capitalisation; the key is case-, accent- and punctuation-insensitive
for matching.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_ROLE = r"host|co[\s-]?host|me|guest|external|presenter|organi[sz]er|unverified|you|mod(?:erator)?"
_PRONOUNS = r"(?:she|he|they|ze|xe|it)\s*/\s*(?:her|him|them|hers|his|theirs|zir|xem|its)(?:\s*/\s*\w+)?"
_PAREN = re.compile(rf"[\(\[]\s*(?:{_ROLE}|{_PRONOUNS})\s*[\)\]]", re.IGNORECASE)
_BARE_PRONOUNS = re.compile(rf"(?:^|\s){_PRONOUNS}(?=\s|$)", re.IGNORECASE)
_ROOMS = r"(?:breakout\s+)?(?:room|breakout|group|team|table)\b"
# OCR reads the "|" separator as l, I, 1 or ! as often as not.
_SUFFIX = re.compile(rf"\s*(?:[|¦｜/\\\-–—:]|\s[lI1!]\s)\s*{_ROOMS}.*$", re.IGNORECASE)
_BARE_ROOM = re.compile(rf"\s+{_ROOMS}\s*\d+\s*$", re.IGNORECASE)
_ROOM_ONLY = re.compile(r"\s*[|¦｜]\s*.*$")
_ELLIPSIS = re.compile(r"\s*(?:\.{2,}|…|。{2,})\s*$")
_OPEN_BRACKET = re.compile(r"\s*[\(\[][^\)\]]*$")  # a suffix the app cut in half: "(she/h..."
_PAREN_END = re.compile(rf"(?:{_PAREN.pattern})\s*$", re.IGNORECASE)
_JUNK = re.compile(r"[^\w\s'\-\.]", re.UNICODE)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_KEY_DROP = re.compile(r"['\.]")
_KEY_SPACE = re.compile(r"[\-_]")
# Surname particles written joined to a capital ("McDonald", "DeShawn"): not two words run
# together by the recogniser, which otherwise drops the narrow space of small UI fonts.
_JOINED_PREFIXES = frozenset({"mc", "mac", "de", "di", "da", "du", "la", "le", "van", "von", "fitz", "st"})


@dataclass(frozen=True)
class StudentName:
    display: str  # as shown to the teacher, e.g. "Maria López"
    key: str  # for matching, e.g. "maria lopez"
    cut: bool = False  # the app shortened the label with "...": `key` is only a prefix of the full key

    def __bool__(self) -> bool:
        return bool(self.key)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _split_joined(word: str) -> str:
    """ "JavierMorales" -> "Javier Morales"; "McDonald" stays."""
    out, start = [], 0
    for i in range(1, len(word)):
        if word[i - 1].islower() and word[i].isupper() and word[start:i].casefold() not in _JOINED_PREFIXES:
            out.append(word[start:i])
            start = i
    out.append(word[start:])
    return " ".join(out)


def name_key(display: str) -> str:
    """The matching key of an already cleaned display name."""
    text = _KEY_SPACE.sub(" ", _KEY_DROP.sub("", _fold(display)))
    return " ".join(text.split())


def normalise(raw: str | None) -> StudentName | None:
    """A StudentName from a tile label, or None when nothing name-like is left."""
    if not raw:
        return None
    text = unicodedata.normalize("NFKC", raw).translate(_APOSTROPHES)
    text = " ".join(text.split())
    cut = False
    if _ELLIPSIS.search(text):
        text = _ELLIPSIS.sub("", text)
        # Only a cut inside the name itself leaves a partial key; "Ann Lee | Roo..." is whole.
        tails = (_OPEN_BRACKET, _PAREN_END, _SUFFIX, _BARE_ROOM, _ROOM_ONLY)
        cut = not any(p.search(text) for p in tails)
        text = _OPEN_BRACKET.sub("", text)
    text = _PAREN.sub(" ", text)
    text = _SUFFIX.sub("", text)
    text = _BARE_ROOM.sub("", text)
    text = _ROOM_ONLY.sub("", text)
    text = _BARE_PRONOUNS.sub(" ", text)
    text = _JUNK.sub(" ", text)
    text = " ".join(_split_joined(w) for w in text.split()).strip(" -.'")
    if len(text) < 2 or not any(c.isalpha() for c in text):
        return None
    if text.isupper() or text.islower():
        # All-caps OCR output or lazy typing: present it in name case, keep the key the same.
        text = " ".join(w[:1].upper() + w[1:].lower() for w in text.split())
    key = name_key(text)
    if len(key.replace(" ", "")) < 2:
        return None
    return StudentName(display=text, key=key, cut=cut)
