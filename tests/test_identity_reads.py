"""How the identity step weighs imperfect label reads (no OCR here: the reads are scripted).

A compressed or small label is often read in part, and a label read while the gallery moves can
land on a neighbour's face; each rule keeps the record at one student per person."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fer_overlay.people.identity import IdentityOptions, IdentityTracker
from fer_overlay.people.names import StudentName, is_self_label, normalise
from fer_overlay.types import Faces, Layout

IMAGE = np.zeros((720, 1280, 3), np.uint8)
LAYOUT = Layout.whole_frame(1280, 720)
BOXES = {1: (100, 100, 200, 220), 2: (500, 100, 600, 220), 3: (900, 100, 1000, 220), 4: (100, 400, 200, 520)}


class ScriptedLabels:
    """Stands in for the text pass: each call reads what the test says each track shows."""

    reading = False

    def __init__(self) -> None:
        self.own: list[bool] = []
        self.shows: dict[int, str | None] = {}
        self.read_at: dict[int, float] = {}  # when each track's label was last read (default: long ago)

    def labels(self, image, faces: Faces, tiles, ids: Sequence[int], bases, first_seen, t, mode,
               grey=None, others=None):
        current: list[StudentName | None] = [normalise(self.shows.get(i)) if self.shows.get(i) else None
                                             for i in ids]
        self.own = [is_self_label(self.shows.get(i)) for i in ids]  # as the text pass marks "You"
        return current, [False] * len(ids)

    def read_since(self, ids: Sequence[int]) -> list[float]:
        # Every face was looked at (a missing read is final after settle_s); where a test says
        # when labels were read (step(read=True)), the rules that count reads see each read.
        return [self.read_at.get(i, float("inf")) for i in ids]

    def close(self, timeout: float = 5.0) -> None:
        pass

    def reset(self) -> None:
        pass


def tracker() -> tuple[IdentityTracker, ScriptedLabels]:
    t = IdentityTracker(options=IdentityOptions(settle_s=2.0, unread_wait_s=20.0, keep_lost_s=5.0))
    labels = ScriptedLabels()
    t._labels = labels  # type: ignore[assignment]
    return t, labels


def step(t: IdentityTracker, labels: ScriptedLabels, now: float, shows: dict[int, str | None],
         read: bool = False) -> dict[int, str | None]:
    """One frame; `read`: every label was read anew on it (else what was read before is shown)."""
    labels.shows = shows
    if read:
        labels.read_at.update(dict.fromkeys(shows, now))
    ids = sorted(shows)
    faces = Faces(xyxy=np.array([BOXES[i] for i in ids], np.float32), track_id=np.array(ids))
    named, _ = t.update(IMAGE, LAYOUT, faces, now, "video")
    return dict(zip(ids, named.student))


def test_a_partial_read_after_a_relayout_is_the_student_of_this_session_it_resembles() -> None:
    t, labels = tracker()
    assert step(t, labels, 0.0, {1: "Naomi Williams", 2: "Lucy Evans"}) == {1: "naomi williams", 2: "lucy evans"}
    # A layout switch: both tracks restart (3, 4), and the smaller labels read in part.
    keys = step(t, labels, 1.0, {3: "Naom Williams", 4: "y Evans"})
    assert keys == {3: "naomi williams", 4: "lucy evans"}
    # A name unlike anyone's is a new student, as always.
    assert step(t, labels, 2.0, {3: "Naom Williams", 4: "y Evans", 1: "Jack Thompson"})[1] == "jack thompson"


def test_a_piece_of_a_neighbours_label_is_not_a_student() -> None:
    t, labels = tracker()
    step(t, labels, 0.0, {1: "Chloe Martin", 2: "Patrick Byrne"})
    # A named face keeps its name when it reads a piece of a label another face holds.
    assert step(t, labels, 0.5, {1: "Chloe Martin", 2: "Martin"})[2] == "patrick byrne"
    # A new face (a false detection beside the label) waits instead of becoming "martin"...
    for now in (1.0, 1.5, 2.5):
        assert step(t, labels, now, {1: "Chloe Martin", 2: "Patrick Byrne", 3: "Martin"})[3] is None
    # ...and is a student only once it has read that and nothing else for settle_s: a real "Martin".
    assert step(t, labels, 3.2, {1: "Chloe Martin", 2: "Patrick Byrne", 3: "Martin"})[3] == "martin"


def test_a_copy_of_a_neighbours_label_on_a_moving_gallery_does_not_make_a_second_student() -> None:
    t, labels = tracker()
    step(t, labels, 0.0, {1: "Patrick Byrne", 2: "Lucy Evans"})
    # The gallery slides: Patrick's face is given Lucy's label while hers is between reads...
    step(t, labels, 0.5, {1: "Lucy Evans", 2: None})
    # ...then both faces read it. Patrick is still Patrick, not "lucy evans #2".
    seen = [step(t, labels, now, {1: "Lucy Evans", 2: "Lucy Evans"}) for now in (1.0, 3.0, 5.0)]
    assert all(s == {1: "patrick byrne", 2: "lucy evans"} for s in seen[1:]), seen
    assert {k for s in seen for k in s.values() if k} == {"patrick byrne", "lucy evans"}


def test_two_new_faces_with_one_label_are_still_two_students() -> None:
    t, labels = tracker()
    assert step(t, labels, 0.0, {1: "iPhone", 2: "iPhone"}) == {1: "iphone", 2: "iphone #2"}


def test_a_misread_of_a_named_face_does_not_rename_it_but_a_lasting_new_name_does() -> None:
    t, labels = tracker()
    step(t, labels, 0.0, {1: "Yusuf Demir", 2: "Lucy Evans"})
    # One pass misreads the label ("Yusuf Den" is nobody of this session); the next reads it right.
    assert step(t, labels, 0.5, {1: "Yusuf Den", 2: "Lucy Evans"})[1] == "yusuf demir"
    assert step(t, labels, 1.5, {1: "Yusuf Den", 2: "Lucy Evans"})[1] == "yusuf demir"
    assert step(t, labels, 2.0, {1: "Yusuf Demir", 2: "Lucy Evans"})[1] == "yusuf demir"
    # A name that stays (the student renamed themself) is taken once it has held settle_s.
    for now in (3.0, 4.0):
        assert step(t, labels, now, {1: "Joseph Okafor", 2: "Lucy Evans"})[1] == "yusuf demir"
    assert step(t, labels, 5.5, {1: "Joseph Okafor", 2: "Lucy Evans"})[1] == "joseph okafor"
    # A name of this session on a named face is a reorder: taken at once.
    assert step(t, labels, 6.0, {1: "Lucy Evans", 2: "Joseph Okafor"}) == {1: "lucy evans", 2: "joseph okafor"}


def test_a_partial_first_read_moves_to_the_fuller_read_and_says_so() -> None:
    t, labels = tracker()
    # The first pass read the label while the gallery slid: "e Dubois"; the next one reads it whole.
    assert step(t, labels, 0.0, {1: "e Dubois", 2: "Lucy Evans"}, read=True) == {1: "e dubois", 2: "lucy evans"}
    assert t.renamed == ()
    assert step(t, labels, 2.0, {1: "Camille Dubois", 2: "Lucy Evans"}, read=True)[1] == "camille dubois"
    assert t.renamed == (("e dubois", "camille dubois"),)
    named, _ = t.update(IMAGE, LAYOUT, Faces(xyxy=np.array([BOXES[1]], np.float32), track_id=np.array([1])), 2.5)
    assert named.name == ("Camille Dubois",) and t.renamed == ()  # reported once
    # A cut read of the name now is no reason to move back.
    assert step(t, labels, 4.0, {1: "e Dubois", 2: "Lucy Evans"}, read=True)[1] == "camille dubois"
    assert t.renamed == ()


def test_another_spelling_moves_the_key_once_it_was_read_more_often() -> None:
    t, labels = tracker()
    assert step(t, labels, 0.0, {1: "Tariqg Hussain"}, read=True)[1] == "tariqg hussain"
    # Shown for many frames but read once: one read against one, the key stays.
    for now in (0.5, 1.0, 1.5):
        assert step(t, labels, now, {1: "Tariq Hussain"}, read=now == 0.5)[1] == "tariqg hussain"
    assert t.renamed == ()
    assert step(t, labels, 2.0, {1: "Tariq Hussain"}, read=True)[1] == "tariq hussain"
    assert t.renamed == (("tariqg hussain", "tariq hussain"),)


def test_a_name_of_this_session_or_on_screen_is_never_taken_by_a_better_read() -> None:
    t, labels = tracker()
    step(t, labels, 0.0, {1: "Naomi Williams", 2: "Lucy Evans"}, read=True)
    # After a layout switch the smaller labels read in part: the roster's name, however often.
    for k, now in enumerate((1.0, 2.0, 3.0, 4.0)):
        assert step(t, labels, now, {3: "Naom Williams", 4: "y Evans"}, read=True) == {
            3: "naomi williams", 4: "lucy evans"}, k
    assert t.renamed == ()
    # "Lucy" is a student of her own; a read of her label that is her neighbour's name, while his
    # label is between reads, leaves both keys where they are.
    for now in (5.0, 6.0, 7.5):
        keys = step(t, labels, now, {3: "Naomi Williams", 4: "Lucy Evans", 1: "Lucy"}, read=True)
    assert keys == {3: "naomi williams", 4: "lucy evans", 1: "lucy"}
    keys = step(t, labels, 8.0, {3: "Naomi Williams", 4: None, 1: "Lucy Evans"}, read=True)
    assert keys == {3: "naomi williams", 4: "lucy evans", 1: "lucy"} and t.renamed == ()


def test_text_read_after_a_name_moves_the_key_only_once_it_was_read_more_often() -> None:
    t, labels = tracker()
    # A pronoun suffix read wrong looks like the rest of a cut name; one read of it is not enough.
    assert step(t, labels, 0.0, {1: "Wen Li"}, read=True)[1] == "wen li"
    assert step(t, labels, 2.0, {1: "Wen Li thny them"}, read=True)[1] == "wen li"
    assert step(t, labels, 4.0, {1: "Wen Li"}, read=True)[1] == "wen li"
    assert step(t, labels, 6.0, {1: "Wen Li thny them"}, read=True)[1] == "wen li"
    assert t.renamed == ()


def test_an_opted_out_student_read_in_part_is_hidden_and_a_better_read_withdraws_the_old_key() -> None:
    t = IdentityTracker(options=IdentityOptions(settle_s=2.0, opt_out=("Zoe Campbell", "Tariq Hussain")))
    labels = ScriptedLabels()
    t._labels = labels  # type: ignore[assignment]

    def hidden_after(now: float, shows: dict[int, str | None]) -> tuple[dict[int, str | None], list[int]]:
        labels.shows = shows
        labels.read_at.update(dict.fromkeys(shows, now))
        ids = sorted(shows)
        faces = Faces(xyxy=np.array([BOXES[i] for i in ids], np.float32), track_id=np.array(ids))
        named, out = t.update(IMAGE, LAYOUT, faces, now, "video")
        return dict(zip(named.track_id.tolist(), named.student)), out.track_id.tolist()

    # The start of her label cut off: hidden from the first read, never analysed as "e campbell".
    keys, hidden = hidden_after(0.0, {1: "e Campbell", 2: "Tariqg Hussain", 3: "Lucy Evans"})
    assert hidden == [1] and keys == {2: "tariqg hussain", 3: "lucy evans"}
    # A slip is not an opted-out name; read right more often, it is, and the old key is withdrawn.
    hidden_after(2.0, {1: "e Campbell", 2: "Tariq Hussain", 3: "Lucy Evans"})
    keys, hidden = hidden_after(4.0, {1: "e Campbell", 2: "Tariq Hussain", 3: "Lucy Evans"})
    assert t.renamed == (("tariqg hussain", None),)
    assert hidden == [1, 2] and keys == {3: "lucy evans"}


def test_a_roster_name_that_lost_a_letter_moves_to_the_longer_spelling_read_clearly_more_often() -> None:
    t, labels = tracker()
    assert step(t, labels, 0.0, {1: "Quin Foster"}, read=True) == {1: "quin foster"}  # its first read lost an n
    # A view switch: a new track reads the label right; it is the roster's student, under its key...
    assert step(t, labels, 1.0, {2: "Quinn Foster"}, read=True) == {2: "quin foster"}
    assert step(t, labels, 2.0, {2: "Quinn Foster"}, read=True) == {2: "quin foster"}
    # ...until the longer spelling has been read two more times than the key's.
    assert step(t, labels, 3.0, {2: "Quinn Foster"}, read=True) == {2: "quinn foster"}
    assert t.renamed == (("quin foster", "quinn foster"),)


def test_a_face_labelled_you_is_the_self_view_not_a_student() -> None:
    """Meet and the Teams web UI label the local user's own video "You": that face is set aside as
    the self-view (as an inset over a tile is), and gets no student key."""
    t, labels = tracker()
    assert step(t, labels, 0.0, {1: "Dr Briana Hernandez", 2: "You"}) == {1: "dr briana hernandez"}
    assert t.self_view.track_id.tolist() == [2] and t.self_view.student == (None,)
    # "Mike (you)" is a name with a role: a student.
    assert step(t, labels, 1.0, {1: "Dr Briana Hernandez", 3: "Mike (you)"}) == {1: "dr briana hernandez", 3: "mike"}
    assert len(t.self_view) == 0
