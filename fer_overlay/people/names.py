"""Clean up the names meeting apps print on tiles, so one student has one key.

Zoom, Meet and Teams decorate names: "(Host)", "(Co-host)", "(me)", pronouns,
breakout-room suffixes ("| Room 12"), "(Guest)", "(External)", stray whitespace and
OCR-confused separators, and cut long names with "...". The display name keeps the
student's own capitalisation; the key is case-, accent- and punctuation-insensitive
for matching. Text that the text detector finds on screen but that is no name (clock
times, toolbar buttons such as "Mute" or "Share Screen", "You") is rejected.

:func:`match_key` is the one function that turns anything a teacher types or the store
holds (a label, a display name, a stored key, "iPhone #2", "track-7") into a key.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

_ROLE = r"host|co[\s-]?host|me|guest|external|presenter|organi[sz]er|unverified|you|mod(?:erator)?"
_PRONOUNS = r"(?:she|he|they|ze|xe|it)\s*/\s*(?:her|him|them|hers|his|theirs|zir|xem|its)(?:\s*/\s*\w+)?"
_PAREN = re.compile(rf"[\(\[]\s*(?:{_ROLE}|{_PRONOUNS})\s*[\)\]]", re.IGNORECASE)
_BARE_PRONOUNS = re.compile(rf"(?:^|\s){_PRONOUNS}(?=\s|$)", re.IGNORECASE)
_ROOMS = r"(?:breakout\s+)?(?:ro{1,2}m|breakout|group|team|table)\b"  # "Rom": a small "Room" read short
# OCR reads the "|" separator as l, I, 1 or ! as often as not.
_SUFFIX = re.compile(rf"\s*(?:[|¦｜/\\\-–—:]|\s[lI1!]\s)\s*{_ROOMS}.*$", re.IGNORECASE)
_BARE_ROOM = re.compile(rf"\s+{_ROOMS}\s*\d+\s*$", re.IGNORECASE)
_ROOM_ONLY = re.compile(r"\s*[|¦｜]\s*.*$")
_ELLIPSIS = re.compile(r"\s*(?:\.{2,}|…|。{2,})\s*$")
# A bracket never closed at the end: a suffix the app cut in half ("(she/h..."), or whose ")" the
# label's box cut off or the recogniser lost ("Fred Dixon (roul" of a 5 px "(you)"). Apps put
# roles and pronouns in brackets after the name; a name does not end in an open one.
_OPEN_BRACKET = re.compile(r"\s*[\(\[][^\)\]]*$")
_PAREN_END = re.compile(rf"(?:{_PAREN.pattern})\s*$", re.IGNORECASE)
_JUNK = re.compile(r"[^\w\s'\-\.]", re.UNICODE)
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_KEY_DROP = re.compile(r"['\.]")
_KEY_SPACE = re.compile(r"[\-_]")
# Surname particles written joined to a capital ("McDonald", "DeShawn"): not two words run
# together by the recogniser, which otherwise drops the narrow space of small UI fonts.
_JOINED_PREFIXES = frozenset({"mc", "mac", "de", "di", "da", "du", "la", "le", "van", "von", "fitz", "st"})
# Clock times and durations ("10:42", "10:42 AM", "00:12:33"), read off toolbars and recording badges.
_CLOCK = re.compile(r"\d{1,2}\s*[:.]\s*\d{2}")
# Keys of text the meeting apps draw that is not a participant's name (toolbars, menus, badges).
_UI_TEXT = frozenset({
    "you", "me", "host", "co host", "guest", "participants", "participant", "people", "chat", "share",
    "share screen", "stop share", "stop sharing", "present now", "presenting", "mute", "unmute", "muted",
    "start video", "stop video", "video", "audio", "mic", "camera", "record", "recording", "rec", "live",
    "reactions", "react", "raise hand", "lower hand", "leave", "end", "leave meeting", "end meeting", "security",
    "apps", "whiteboards", "whiteboard", "notes", "more", "view", "gallery view", "speaker view", "captions",
    "breakout rooms", "meeting details", "details", "activities", "rooms", "join", "admit", "waiting room",
    "summary", "ai companion", "zoom", "zoom workplace", "google meet", "meet", "microsoft teams", "teams",
    "talking", "speaking", "pin", "unpin", "spotlight", "hand raised", "screen share", "presentation", "you are muted",
    "connecting", "poor connection", "low bandwidth", "chat with everyone", "everyone", "calendar", "call",
    "meeting", "options", "settings", "layout", "full screen", "exit full screen", "meeting id", "room",
    "passcode", "page", "microphone", "invite", "webcams", "webcam",
})
# The recogniser puts a space after a wide capital ("Keiko Y amamoto", "T omás"): a lone capital
# followed by a lower-case word is one word. A real initial keeps its dot or a capital after it.
_LONE_CAPITAL = re.compile(r"(?<![\w.])([A-Z])\s+(?=[a-z]{2,})")
# The recogniser reads a capital I as a small l ("lan Cooper", "lvan Petrov"): a first name
# "l" + consonant, or "lan", in an otherwise capitalised name is an I. ("lopez", "lee": no.)
_SMALL_L = re.compile(r"^l(?=[bcdfghjkmnpqrstvwxz][a-z]+\b|an\b)")
# ...and a small l as a capital I after a word's capital ("AIex", "OIivia", "Mohammed AI-Sayed"):
# a capital then "Ie", "Ii", "Iu" or "I-Name" is no name nor an icon before one ("YIvan" is).
# Not in all-caps text.
_CAPITAL_I = re.compile(r"\b([A-Z])I(?=[eiu]|-[A-Z])")
# A letter o read as a zero inside or at the end of a word ("The0", "R0bert"); digits among
# digits ("user10", "Room 10") and a zero on its own stay.
_ZERO_O = re.compile(r"(?<=[A-Za-z])0(?=[a-z])|(?<=[A-Za-z]{2})0\b")
# Zoom's mic icon sits before the name and is read as a letter or digit: "YJennifer", "oFilip",
# "2 Kim". A lone leading digit, or a letter glued before a capitalised word, is dropped
# ("iPhone" and "eBay" keep theirs: brand spellings are common device names).
_ICON = re.compile(r"^(?:[\d\W_]\s+|[A-Z](?=[A-Z][a-z]{2,})|[a-df-hj-z](?=[A-Z][a-z]{2,}))")
_COUNT = re.compile(r"[\(\[]\s*\d+\s*[\)\]]")  # "Participants (25)"
# Words of toolbars, menus and chat panels: text made mostly of these is UI, not a name
# ("Invite Manage Participants Polling Share Screen", "From Me to Everyone").
_UI_VOCABULARY = (
    "invite manage participants participant polling share screen record recording breakout rooms room reactions "
    "mute unmute muted stop start video chat more leave end apps security host co tools companion pause resume "
    "everyone from to me you privately whiteboard whiteboards notes captions view gallery speaker settings "
    "microphone camera audio join call meeting details people activity activities raise hand lower present "
    "presenting now options layout full exit waiting admit summary unassigned assigned polls poll qa q all group "
    "zoom teams google")
_UI_WORDS = frozenset(_UI_VOCABULARY.split())
_DEDUPE = re.compile(r"^(.*\S)\s*#\s*(\d+)$")  # "iPhone #2": our own suffix for a repeated label
_TRACK = re.compile(r"^(?:track|face)-\d+$")


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
        left = word[start:i]
        # "iPhone", "eBay" stay whole: a run-together name starts with a capital and a real word.
        if (word[i - 1].islower() and word[i].isupper() and left[0].isupper() and len(left) >= 2
                and left.casefold() not in _JOINED_PREFIXES):
            out.append(word[start:i])
            start = i
    out.append(word[start:])
    return " ".join(out)


# Scripts whose letters a small UI icon (a microphone, a hand, a pin) is misread as: the
# recogniser's charset is mostly CJK, so an icon beside a Latin name often comes out as one
# ideograph ("退 Herzog", "星 Kim").
_ICON_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL")


def _foreign_icon(text: str) -> str:
    """Drop a lone leading or trailing character of another script than the rest of a Latin
    label ("退 Herzog" -> "Herzog", "灵jamie" -> "jamie": the icon read without a space after it);
    a name written in that script keeps all of it."""

    def latin(word: str) -> bool:
        return any("LATIN" in unicodedata.name(c, "") for c in word)

    def icon(word: str) -> bool:
        return len(word) == 1 and any(s in unicodedata.name(word, "") for s in _ICON_SCRIPTS)

    if len(text) >= 3 and icon(text[0]) and latin(text[1]) and all(latin(w) for w in text[1:].split()):
        text = text[1:]
    words = text.split()
    if len(words) < 2:
        return text
    if icon(words[0]) and all(latin(w) for w in words[1:]):
        words = words[1:]
    if len(words) >= 2 and icon(words[-1]) and all(latin(w) for w in words[:-1]):
        words = words[:-1]
    return " ".join(words)


# What meeting apps print on the local user's own video instead of a name (Meet and the Azure
# Communication Services / Teams web UI: "You"; Jitsi: "me"), with a role or state after it.
_SELF_WORDS = frozenset({"you", "me"})
_SELF_TAIL = frozenset({"host", "co", "cohost", "presenting", "presenter", "organiser", "organizer", "muted",
                        "guest", "moderator", "mod", "speaking"})


def is_self_label(raw: str | None) -> bool:
    """A label that marks the local user's own video ("You", "Me", "You (Host)", "(you)"), not a
    student's name. "Mike (you)" is a name with a role and is not one."""
    if not raw:
        return False
    words = _KEY_SPACE.sub(" ", _JUNK.sub(" ", _fold(unicodedata.normalize("NFKC", raw)))).split()
    return bool(words) and words[0] in _SELF_WORDS and all(w in _SELF_TAIL for w in words[1:])


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
    if _CLOCK.search(text):
        return None
    text = _COUNT.sub(" ", text)
    if not text.isupper():
        text = _CAPITAL_I.sub(r"\1l", text)  # before the icon rule, which would take "A" of "AIex" for one
    text = _ZERO_O.sub("o", text)
    text = _ICON.sub("", text)
    text = _foreign_icon(text)
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
    text = _LONE_CAPITAL.sub(r"\1", text)
    text = " ".join(_split_joined(w) for w in text.split()).strip(" -.'")
    if len(text) < 2 or not any(c.isalpha() for c in text):
        return None
    if len(text.split()) > 1 and all(w[:1].isupper() for w in text.split()[1:]):
        text = _SMALL_L.sub("I", text)
    if text.isupper() or text.islower():
        # All-caps OCR output or lazy typing: present it in name case, keep the key the same.
        text = " ".join(w[:1].upper() + w[1:].lower() for w in text.split())
    key = name_key(text)
    letters = sum(c.isalpha() for c in key)
    if letters < 2 or sum(c.isdigit() for c in key) > letters:
        return None
    if key in _UI_TEXT or " ".join(w for w in key.split() if not w.isdigit()) in _UI_TEXT:
        return None
    words = key.split()
    if len(words) == 1 and key in _UI_WORDS:
        return None
    if len(words) >= 2 and sum(w in _UI_WORDS or w.isdigit() for w in words) >= 2 / 3 * len(words):
        return None
    if all(w in _UI_TEXT for w in words):  # a window title read twice: "Webcams Webcams"
        return None
    return StudentName(display=text, key=key, cut=cut)


def dedupe(text: str, n: int) -> str:
    """The n-th student carrying the same label: "iPhone", "iPhone #2", ... (for keys and display names)."""
    return text if n <= 1 else f"{text} #{n}"


def label_of(display: str) -> str:
    """The label a display name was read from: without :func:`dedupe`'s " #n" ("iPhone #2" ->
    "iPhone"), which is ours, not the screen's."""
    m = _DEDUPE.match(display)
    return m.group(1) if m else display


def match_key(text: str) -> str:
    """The student key of anything typed or stored: a tile label, a display name, an older
    record's name, a key itself ("maria lopez", "iphone #2", "track-7").

    Accents, case and spacing never matter: "Maria Lopez", "maria  lópez" and "Maria López
    (Host)" all give "maria lopez". Text with nothing name-like left keeps its folded form."""
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if _TRACK.match(text.casefold()):
        return text.casefold()
    m = _DEDUPE.match(text)
    if m:
        return dedupe(match_key(m.group(1)), int(m.group(2)))
    name = normalise(text)
    return name.key if name else name_key(text)


def same_name(a: str, b: str) -> bool:
    """Two reads of one label: equal, one cut short ("Christopher Vill...") or only partly found by
    the detector ("emir" of "yusuf demir"), or an OCR slip."""
    short, long = sorted((a, b), key=len)
    if short == long or (len(short.replace(" ", "")) >= 4 and short in long):
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.85
