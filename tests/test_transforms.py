"""The question side of the consistency checks (vlm4d_tasks.validity.transforms).

Hand-made records in the release's style: every vocabulary item of the mirror and the
reverse, case, the one-pass swap, the answer letter following its text, questions that stay as
they are, each reverse rule with a kept and an excluded example, rotations, and the two scores
on hand-computed outcomes. The rules also run over an annotation folder written here (never
the release's files), through the bench script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlm4d_tasks.data.annotations import normalize_entry
from vlm4d_tasks.data.schema import LETTERS, Record, Subset
from vlm4d_tasks.validity import consistency as C
from vlm4d_tasks.validity import transforms as T

ROOT = Path(__file__).resolve().parents[1]


def make(question: str, options: list[str], answer: str, *, qid: str = "validation_7",
         subset: str = "real", video: str = "videos_real/davis/car.mp4") -> Record:  # fmt: skip
    """A record as the annotation loader makes it from an official entry."""
    entry = {"id": qid, "video": video, "question": question,
             "choices": dict(zip(LETTERS, options)), "answer": answer}  # fmt: skip
    record, _ = normalize_entry(entry, Subset(subset))
    return record


def texts(record: Record | None) -> tuple | None:
    if record is None:
        return None
    return (record.question, record.options, record.answer, record.answer_text)


# --------------------------------------------------------------------------------------------
# Mirror


@pytest.mark.parametrize(
    ("question", "options", "answer", "expected"),
    [
        # bare left/right in the options: the right letter moves with the text
        ("What direction is the car moving towards?", ["left", "right", "not moving", "up"],
         "left", ("What direction is the car moving towards?",
                  ["right", "left", "not moving", "up"], "A", "right")),
        # "to the left", case kept, and the question's own direction swapped
        ("How many people are moving To The Left?", ["0", "1", "2", "3"], "2",
         ("How many people are moving To The Right?", ["0", "1", "2", "3"], "C", "2")),
        # upper case, -wards, -most, a hyphenated compound
        ("Which way is the LEFT-MOST car moving?", ["leftwards", "Rightward", "left-hand side",
                                                  "not moving"], "leftwards",
         ("Which way is the RIGHT-MOST car moving?", ["rightwards", "Leftward",
                                                    "right-hand side", "not moving"],
          "A", "rightwards")),
        # one pass: "left to right" becomes "right to left", never back again
        ("How is the person moving the knife?", ["Left to right", "Right to left", "up",
                                                 "not moving"], "Left to right",
         ("How is the person moving the knife?", ["Right to left", "Left to right", "up",
                                                  "not moving"], "A", "Right to left")),
        # rotation senses, the record's own spelling for the counterpart ("anticlockwise")
        ("Which way is the wheel spinning?", ["clockwise", "anticlockwise", "not spinning",
                                              "no wheel there"], "clockwise",
         ("Which way is the wheel spinning?", ["anticlockwise", "clockwise", "not spinning",
                                               "no wheel there"], "A", "anticlockwise")),
        # spellings: counterclockwise, anti-clockwise, the release's typo "clckswise"
        ("Is the person spinning clckswise?", ["counterclockwise", "anti-clockwise turn", "no",
                                               "yes"], "counterclockwise",
         ("Is the person spinning counterclockwise?", ["clockwise", "clockwise turn", "no",
                                                       "yes"], "A", "clockwise")),
        # title case kept word by word; the record's "Counter Clockwise" is reused
        ("In what direction did he rotate it?", ["Clockwise and 90 degrees.",
                                                 "Counter Clockwise and 90 degrees.", "No", "Yes"],
         "Counter Clockwise and 90 degrees.",
         ("In what direction did he rotate it?", ["Counter Clockwise and 90 degrees.",
                                                  "Clockwise and 90 degrees.", "No", "Yes"],
          "B", "Clockwise and 90 degrees.")),
        # a left hand in a mirrored clip is a right hand
        ("How many times did he dribble with his right hand?", ["0", "1", "2", "3"], "1",
         ("How many times did he dribble with his left hand?", ["0", "1", "2", "3"], "B", "1")),
    ],
)  # fmt: skip
def test_mirror_swaps_left_right_and_rotation_senses(question, options, answer, expected):
    record = make(question, options, answer)
    out = T.mirror(record)
    assert texts(out) == expected
    assert T.mirror_rule(record) == "mirrored"
    assert out.uid == f"{record.uid}#mirror" and out.question_id == record.question_id
    assert out.video == record.video and out.category == record.category
    assert out.flags == ["transform:mirror"]


def test_mirror_keeps_either_or_questions_and_non_directions():
    # "A or B" asks the same either way: the question stays, the options swap
    record = make("Is the car turning to the left or right?", ["left", "right", "not moving",
                                                                "no car there"], "right")  # fmt: skip
    out = T.mirror(record)
    assert out.question == record.question and out.options[:2] == ["right", "left"]
    assert (out.answer, out.answer_text) == ("B", "left")
    # "left" the verb and idioms with "right" are not directions
    record = make("Did the ball move right after it never left the ground?",
                  ["left", "right", "up", "down"], "up")  # fmt: skip
    assert T.mirror(record).question == record.question
    # but "to the right before" is a direction followed by "before"
    record = make("How many times does he look to the right before turning?", ["0", "1", "2",
                                                                                "3"], "1")  # fmt: skip
    assert T.mirror(record).question == "How many times does he look to the left before turning?"


def test_unchanged_questions_keep_their_texts_and_get_the_variant_uid():
    record = make("How many people are not moving?", ["0", "1", "2", "3"], "2")
    out = T.mirror(record)
    assert texts(out) == texts(record)
    assert T.mirror_rule(record) == "unchanged"
    assert out.uid == record.uid + "#mirror" and T.base_uid(out.uid) == record.uid


@pytest.mark.parametrize(
    ("question", "options", "answer", "rule"),
    [
        ("What is the number of the closest go-kart?", ["20", "16", "3", "99"], "20", "reads_text"),
        ("Which direction is the stove moving?", ["North", "South", "East", "not moving"],
         "North", "compass_direction"),
        ("How many leftover cakes are there?", ["0", "1", "2", "3"], "1",
         "unlisted_direction_word"),
        # "clockwise" -> the record's "counter-clockwise", which "anticlockwise" also becomes
        ("Which way does it spin?", ["clockwise", "counter-clockwise", "anticlockwise", "no"],
         "no", "ill_formed"),
    ],
)  # fmt: skip
def test_mirror_drops_by_named_rules(question, options, answer, rule):
    record = make(question, options, answer)
    assert T.mirror(record) is None
    assert T.mirror_rule(record) == rule and not T.MIRROR_RULES[rule].kept


# --------------------------------------------------------------------------------------------
# Reverse: kept


@pytest.mark.parametrize(
    ("question", "options", "answer", "expected"),
    [
        # towards / away from the camera; "moving towards?" asks and is kept
        ("What direction is the dog moving towards?", ["towards the camera", "left",
                                                       "away from the camera", "not moving"],
         "towards the camera",
         ("What direction is the dog moving towards?", ["away from the camera", "right",
                                                        "towards the camera", "not moving"],
          "A", "away from the camera")),
        # coming closer / going further away, bare towards / away, the record's spellings
        ("Is the car coming closer or moving further away?", ["coming closer", "towards",
                                                               "away", "going further away"],
         "going further away",
         ("Is the car coming closer or moving further away?", ["going further away", "away",
                                                               "towards", "coming closer"],
          "D", "coming closer")),
        # up / down family, forwards / backwards
        ("Are the people moving uphill or downhill?", ["uphill", "Downwards", "forwards",
                                                       "backward"], "uphill",
         ("Are the people moving uphill or downhill?", ["downhill", "Upwards", "backwards",
                                                        "forward"], "A", "downhill")),
        # rotation sense and a count of spins (the same count, the other sense)
        ("How many times does the dancer spin clockwise?", ["0", "1", "2", "3"], "2",
         ("How many times does the dancer spin counter-clockwise?", ["0", "1", "2", "3"],
          "C", "2")),
        # paired actions
        ("How many people entered the chairlift?", ["0", "1", "2", "3"], "1",
         ("How many people exited the chairlift?", ["0", "1", "2", "3"], "B", "1")),
        ("Are the people picking up or putting down the bottles?", ["picking up",
                                                                     "putting down",
                                                                     "neither", "both"],
         "picking up",
         ("Are the people picking up or putting down the bottles?", ["putting down",
                                                                      "picking up",
                                                                      "neither", "both"],
          "A", "putting down")),
        ("Is the plane landing or taking off?", ["landing", "taking off", "not moving",
                                                 "no plane there"], "landing",
         ("Is the plane landing or taking off?", ["taking off", "landing", "not moving",
                                                  "no plane there"], "A", "taking off")),
        # compass and inward / outward, as directions of motion
        ("Which direction are the molecules moving?", ["inward", "outward", "north", "east"],
         "north",
         ("Which direction are the molecules moving?", ["outward", "inward", "south", "west"],
          "C", "south")),
        # a two-step answer reverses its order too: "left then right" stays
        ("Which direction is the robot moving?", ["left then right", "right then left",
                                                  "Up and then back down.", "not moving"],
         "left then right",
         ("Which direction is the robot moving?", ["left then right", "right then left",
                                                   "Up and then back down.", "not moving"],
          "A", "left then right")),
        ("Seen from above, which way does the cube rotate?", ["clockwise, then counter-clockwise",
                                                              "clockwise", "counter-clockwise",
                                                              "not rotating"], "clockwise",
         ("Seen from above, which way does the cube rotate?",
          ["clockwise, then counter-clockwise", "counter-clockwise", "clockwise",
           "not rotating"], "B", "counter-clockwise")),
        # places stay: the left excavator is still the left one, its motion reverses
        ("What direction is the left excavator moving towards?", ["left", "right", "uphill",
                                                                  "not moving"], "uphill",
         ("What direction is the left excavator moving towards?", ["right", "left",
                                                                   "downhill", "not moving"],
          "C", "downhill")),
        # "where" that asks for no place (the probe's wording): the motion reverses
        ("Relative to where the camera is facing, which way does the cube itself move?",
         ["left", "right", "towards the camera", "not moving"], "left",
         ("Relative to where the camera is facing, which way does the cube itself move?",
          ["right", "left", "away from the camera", "not moving"], "A", "right")),
        # a side passed on stays the side
        ("On which side of the van does the cyclist go past?", ["left", "right", "front", "back"],
         "left",
         ("On which side of the van does the cyclist go past?", ["left", "right", "front",
                                                                 "back"], "A", "left")),
        # a question about a hand: the hand stays, the action reverses
        ("Which hand does he pick up the phone with?", ["Left", "Right", "Both", "Neither"],
         "Right",
         ("Which hand does he put down the phone with?", ["Left", "Right", "Both", "Neither"],
          "B", "Right")),
    ],
)  # fmt: skip
def test_reverse_swaps_directions_of_motion(question, options, answer, expected):
    record = make(question, options, answer)
    out = T.reverse(record)
    assert texts(out) == expected
    assert T.reverse_rule(record) in {"reversed", "time_symmetric"}
    assert out.uid == record.uid + "#reverse" and out.flags == ["transform:reverse"]


@pytest.mark.parametrize(
    "question",
    [
        "How many people are not moving?",
        "Is the runner running slower or faster than the cyclist?",
        "How many cars are facing to the left?",  # a facing direction is no motion
        "How many full turns does the sphere make about its vertical axis?",
    ],
)
def test_time_symmetric_questions_stay_as_they_are(question):
    record = make(question, ["0", "1", "2", "3"], "1")
    assert T.reverse_rule(record) == "time_symmetric"
    assert texts(T.reverse(record)) == texts(record)


# --------------------------------------------------------------------------------------------
# Reverse: excluded, each rule with a kept neighbour


@pytest.mark.parametrize(
    ("rule", "excluded", "kept"),
    [
        ("ordered_events",
         ("At the start of the video, which direction is the dog moving towards?",
          ["left", "right", "towards the camera", "not moving"], "left"),
         ("Which direction is the dog moving towards?",
          ["left", "right", "towards the camera", "not moving"], "left")),
        ("speed_change",
         ("Is the car speeding up or slowing down?", ["speeding up", "slowing down",
                                                      "not moving", "no car there"],
          "speeding up"),
         ("Is the car faster than the bus?", ["yes", "no", "same speed", "no car there"], "yes")),
        ("turning",
         ("Is the car turning to the left or right?", ["left", "right", "not moving",
                                                       "no car there"], "left"),
         ("Which direction did the insect turn?", ["clockwise", "anticlockwise", "not moving",
                                                   "no insect there"], "clockwise")),
        ("asymmetric_action",
         ("How many times does the horse jump to the left?", ["0", "1", "2", "3"], "1"),
         ("How many horses are running to the left?", ["0", "1", "2", "3"], "1")),
        ("counting_events",
         ("How many keepy ups did the boy complete?", ["0", "1", "2", "3"], "1"),
         ("How many full revolutions does the dancer complete?", ["0", "1", "2", "3"], "1")),
        ("goal_or_source",
         ("What direction did the ball come from?", ["left", "right", "above", "below"],
          "left"),
         ("What direction did the ball move?", ["left", "right", "up", "down"], "left")),
        ("left_right_not_motion",
         ("Which paw is the cat's favourite?", ["left", "right", "both", "neither"], "left"),
         ("Which paw is the cat moving?", ["left", "right", "both", "neither"], "left")),
        ("unlisted_direction_word",
         ("How many basketballs went into the net?", ["0", "1", "2", "3"], "1"),
         ("How many basketballs are moving away from the camera?", ["0", "1", "2", "3"], "1")),
        ("ill_formed",  # "towards" and "toward" the camera both become "away from the camera"
         ("Which way is the cow moving?", ["towards the camera", "toward the camera",
                                           "away from the camera", "not moving"],
          "not moving"),
         ("Which way is the cow moving?", ["towards the camera", "left", "away from the camera",
                                           "not moving"], "not moving")),
    ],
)  # fmt: skip
def test_each_reverse_rule_excludes_and_its_neighbour_is_kept(rule, excluded, kept):
    assert not T.REVERSE_RULES[rule].kept
    record = make(*excluded)
    assert T.reverse_rule(record) == rule
    assert T.reverse(record) is None
    neighbour = make(*kept)
    assert T.REVERSE_RULES[T.reverse_rule(neighbour)].kept
    assert T.reverse(neighbour) is not None


# --------------------------------------------------------------------------------------------
# Reverse: goal and source phrasing, above / below (issue 26, point 3; the records reproduce the
# wording of the release's questions named in each test)


def test_reverse_turn_to_face_becomes_turn_away_from_validation_1343():
    # Reversed, the person starts facing the fridge and turns away from it: the goal must
    # become the source, or the question describes the opposite motion of its answer.
    record = make("Which rotational direction did the person turn to face the fridge?",
                  ["upwards", "counter-clockwise", "no turning", "clockwise"], "clockwise",
                  qid="validation_1343")  # fmt: skip
    assert texts(T.reverse(record)) == (
        "Which rotational direction did the person turn away from the fridge?",
        ["downwards", "clockwise", "no turning", "counter-clockwise"], "D", "counter-clockwise",
    )  # fmt: skip
    assert T.reverse_rule(record) == "reversed"
    # the mirror keeps the goal (it still faces the fridge), only the sense swaps
    assert T.mirror(record).question == record.question


def test_reverse_turn_from_becomes_turn_towards_validation_1119():
    # The question and its option "towards the cabinet" change together, so they agree.
    record = make("Which rotational direction does the person turn from the cabinet? ",
                  ["clockwise", "anticlockwise", "parallel to the cabinet",
                   "towards the cabinet"], "anticlockwise", qid="validation_1119")  # fmt: skip
    assert texts(T.reverse(record)) == (
        "Which rotational direction does the person turn towards the cabinet? ",
        ["anticlockwise", "clockwise", "parallel to the cabinet", "away from the cabinet"],
        "B", "clockwise",
    )  # fmt: skip
    # and back: "turn away from X" is "turn towards X" reversed
    back = make("Which way does the person turn away from the cabinet?",
                ["clockwise", "anticlockwise", "not turning", "no person there"], "clockwise")  # fmt: skip
    assert T.reverse(back).question == "Which way does the person turn towards the cabinet?"
    assert texts(T.reverse(back))[2:] == ("A", "anticlockwise")


@pytest.mark.parametrize(
    ("question", "options", "answer", "qid", "expected"),
    [
        ("Which direction was the piece of butter moved?", ["above ", "right", "below", "left"],
         "right", "validation_1330",
         (["below ", "left", "above", "right"], "B", "left")),
        ("Which direction does the chair move laterally?", ["right", "below", "above", "left"],
         "left", "validation_1355",
         (["left", "above", "below", "right"], "D", "right")),
        # the same wording with "above" the answer: reversed, the motion is downwards
        ("Which direction was the piece of butter moved?", ["above ", "right", "below", "left"],
         "above", "validation_1330",
         (["below ", "left", "above", "right"], "A", "below")),
    ],
)  # fmt: skip
def test_reverse_swaps_above_and_below_as_directions(question, options, answer, qid, expected):
    record = make(question, options, answer, qid=qid)
    out = T.reverse(record)
    assert (out.question, out.options, out.answer, out.answer_text) == (question, *expected)
    assert T.reverse_rule(record) == "reversed"
    # a mirror keeps above and below where they are
    vertical = [i for i, o in enumerate(options) if o.strip() in ("above", "below")]
    assert [T.mirror(record).options[i] for i in vertical] == [options[i] for i in vertical]


@pytest.mark.parametrize(
    ("question", "options", "answer", "rule"),
    [
        # a goal after a verb other than a turn: not rewritten, so refused
        ("Which way does the robot spin to face the door?", ["clockwise", "anticlockwise",
                                                             "not spinning", "no robot there"],
         "clockwise", "goal_or_source"),
        ("Which rotational direction does the chair turn to face left?", ["clockwise",
                                                                          "anticlockwise",
                                                                          "left", "right"],
         "clockwise", "turning"),
        # above / below that are places, not directions of motion
        ("Where is the cup with respect to the plate?", ["above", "below", "left", "right"],
         "above", "time_symmetric"),
        ("Which cup is the pencil above?", ["the red one", "the blue one", "none", "both"],
         "none", "unlisted_direction_word"),
        ("Which side of the shelf is the box?", ["above", "below", "beside", "in front"],
         "above", "time_symmetric"),
        ("Is the lamp above or below the table?", ["above", "below", "beside", "no lamp"],
         "above", "left_right_not_motion"),
    ],
)  # fmt: skip
def test_reverse_refuses_or_keeps_goals_and_places_it_cannot_swap(question, options, answer,
                                                                   rule):  # fmt: skip
    record = make(question, options, answer)
    assert T.reverse_rule(record) == rule
    out = T.reverse(record)
    if T.REVERSE_RULES[rule].kept:
        assert texts(out) == texts(record)
    else:
        assert out is None


def test_reverse_refuses_a_place_named_as_where_the_motion_ends_validation_1178():
    # "moved ... To the right of the cook": reversed, that place is where the bottles start;
    # the answer would reverse but the option would keep a claim nothing settles.
    options = ["To the right of the cook", "Towards the cook", "To the left of the cook",
               "Away from the cook. "]  # fmt: skip
    record = make("In what direction where the bottles moved relative to the cook?", options,
                  "Away from the cook.", qid="validation_1178")  # fmt: skip
    assert T.reverse_rule(record) == "goal_or_source" and T.reverse(record) is None
    # its neighbour without the place options is kept, towards and away swapped
    kept = make("In what direction where the bottles moved relative to the cook?",
                ["To the right", "Towards the cook", "To the left", "Away from the cook. "],
                "Away from the cook.")  # fmt: skip
    assert T.reverse(kept).options == ["To the left", "Away from the cook", "To the right",
                                       "Towards the cook. "]  # fmt: skip
    # a question about a place keeps "to the left of" as the place it is
    places = ["To the right of the cook", "In front of the cook", "To the left of the cook",
              "Behind the cook"]  # fmt: skip
    where = make("Where is the bottle with respect to the cook?", places, "Behind the cook")
    assert T.reverse_rule(where) == "time_symmetric"


def test_reverse_reads_toward_from_the_camera_as_towards_synthetic_validation_235():
    # The release's typo "toward from the camera": reversed it is "away from the camera", so
    # the distractor stays the opposite of the answer in both directions.
    record = make("Which direction is the limo moving?",
                  ["not moving", "no limo there", "away from the camera and to the left",
                   "toward from the camera and to the right"],
                  "away from the camera and to the left", qid="validation_235",
                  subset="synthetic", video="videos_synthetic/limo.mp4")  # fmt: skip
    assert texts(T.reverse(record)) == (
        "Which direction is the limo moving?",
        ["not moving", "no limo there", "toward the camera and to the right",
         "away from the camera and to the left"],
        "C", "toward the camera and to the right",
    )  # fmt: skip


def test_rule_tables_list_every_rule_in_order():
    records = [
        make("What direction is the car moving?", ["left", "right", "up", "down"], "left"),
        make("How many people are not moving?", ["0", "1", "2", "3"], "1", qid="validation_8"),
        make("How many times does he jump?", ["0", "1", "2", "3"], "1", qid="validation_9"),
    ]
    counts = T.rule_counts(records, T.REVERSE)
    assert list(counts) == [("real", "counting"), ("real", "translational")]
    assert list(counts[("real", "counting")]) == list(T.REVERSE_RULES)
    assert counts[("real", "counting")]["time_symmetric"] == 1
    assert counts[("real", "counting")]["asymmetric_action"] == 1
    assert counts[("real", "translational")]["reversed"] == 1
    assert sum(T.rule_counts(records, T.MIRROR)[("real", "translational")].values()) == 1
    with pytest.raises(ValueError, match="unknown transformation 'flip'"):
        T.rule_counts(records, "flip")


# --------------------------------------------------------------------------------------------
# Rotations


def test_rotations_shift_options_and_the_letter_follows_the_text():
    record = make("What direction is the car moving?", ["left", "right", "up", "down"], "up")
    rotated = T.rotations(record)
    assert [r.uid for r in rotated] == [f"{record.uid}#rot{k}" for k in range(4)]
    assert rotated[0].options == record.options and rotated[0].answer == "C"
    assert [r.options for r in rotated[1:]] == [
        ["right", "up", "down", "left"], ["up", "down", "left", "right"],
        ["down", "left", "right", "up"],
    ]  # fmt: skip
    assert [r.answer for r in rotated] == ["C", "B", "A", "D"]
    assert all(r.options[r.answer_index] == "up" == r.answer_text for r in rotated)
    assert [r.flags for r in rotated] == [[f"transform:rot{k}"] for k in range(4)]
    assert {T.base_uid(r.uid) for r in rotated} == {record.uid}


def test_rotations_of_a_flagged_record_keep_its_flags():
    # the release's defect: the answer text matches two options (the first match is the letter)
    record = make("Which way?", ["left", "right", "left", "up"], "left")
    assert record.flags == ["duplicate_options", "answer_matches_several_options"]
    rotated = T.rotations(record)
    assert [r.answer for r in rotated] == ["A", "B", "A", "B"]
    assert all(r.flags[:2] == record.flags for r in rotated)


# --------------------------------------------------------------------------------------------
# Uids and scores


def test_base_uid_and_variant_of():
    assert T.base_uid("real/validation_3#2#mirror") == "real/validation_3#2"  # a duplicate id
    assert T.variant_of("real/validation_3#2#mirror") == "mirror"
    assert T.variant_of("synthetic/validation_1#reverse#rot3") == "reverse#rot3"
    assert T.base_uid("synthetic/validation_1#reverse#rot3") == "synthetic/validation_1"
    assert T.variant_of("real/validation_3#2") is None
    assert T.base_uid("real/validation_3") == "real/validation_3"


def test_consistency_on_hand_computed_outcomes():
    base = {"a": True, "b": True, "c": False, "d": None, "e": True, "g": False}
    variant = {"a#mirror": True, "b#mirror": False, "c#mirror": False, "d#mirror": True,
               "f#mirror": True, "g#mirror": True}  # fmt: skip
    result = C.consistency(base, variant)
    # paired: a b c d g; resolved: a b c g; right in both: a
    assert result == {
        "consistency": 1 / 4, "base_accuracy": 2 / 4, "variant_accuracy": 2 / 4,
        "paired": 5, "resolved": 4, "unresolved": 1, "both_right": 1, "base_only_right": 1,
        "variant_only_right": 1, "both_wrong": 1, "base_without_variant": 1,
        "variant_without_base": 1,
    }  # fmt: skip
    assert C.consistency({}, {})["consistency"] is None
    with pytest.raises(ValueError, match="'a' names no transformation"):
        C.consistency(base, {"a": True})
    with pytest.raises(ValueError, match="two variants of question 'a'"):
        C.consistency(base, {"a#mirror": True, "a#reverse": True})


def test_circular_accuracy_on_hand_computed_outcomes():
    outcomes = {}
    rows = {
        "q1": [True, True, True, True],  # right
        "q2": [True, False, True, True],  # wrong
        "q3": [True, None, True, True],  # unresolved
        "q4": [True, True, True],  # rot3 missing: incomplete
        "q5": [False, None, True, True],  # unresolved (not wrong: see the docstring)
    }
    for key, values in rows.items():
        outcomes.update({f"{key}#rot{k}": v for k, v in enumerate(values)})
    result = C.circular_accuracy(outcomes)
    assert result["circular_accuracy"] == 1 / 2
    assert (result["correct"], result["scored"], result["questions"]) == (1, 2, 5)
    assert (result["unresolved"], result["incomplete"]) == (2, 1)
    assert result["per_question"] == {"q1": True, "q2": False, "q3": None, "q4": None,
                                      "q5": None}  # fmt: skip
    assert result["rotation_accuracy"] == 15 / 17  # resolved rotations: 15 right of 17
    assert C.circular_accuracy({})["circular_accuracy"] is None
    with pytest.raises(ValueError, match="'q1#mirror' is not a rotation"):
        C.circular_accuracy({"q1#mirror": True})


def test_bad_input_names_the_record_and_field():
    record = make("Which way?", ["left", "right", "up", "down"], "left")
    bad = Record(**{**record.to_dict(), "options": ["left", 3, "up", "down"]})
    with pytest.raises(ValueError, match=r"record 'real/validation_7': field 'options'"):
        T.mirror(bad)
    with pytest.raises(TypeError, match="expected a Record"):
        T.reverse(record.to_dict())
    # a record whose flags or letter disagree with the loader's checks is no sound original
    unflagged = Record(**{**record.to_dict(), "options": ["left", "left", "up", "down"]})
    with pytest.raises(ValueError, match=r"'real/validation_7': field 'choices': repeated"):
        T.rotations(unflagged)
    wrong_letter = Record(**{**record.to_dict(), "answer": "B"})
    with pytest.raises(ValueError, match=r"field 'answer': 'B', but .* is option 'A'"):
        T.mirror(wrong_letter)
    with pytest.raises(ValueError, match=r"field 'subset': unknown subset 'train'"):
        T.reverse(Record(**{**record.to_dict(), "subset": "train"}))
    with pytest.raises(ValueError, match="unknown transformation 'flip'"):
        T.transform(record, "flip")


# --------------------------------------------------------------------------------------------
# Over an annotation folder, and determinism

FIXTURE_REAL = [
    ("What direction is the car moving towards?", ["left", "right", "towards the camera",
                                                   "not moving"], "right"),
    ("Is the dog coming closer or moving further away?", ["coming closer", "going further away",
                                                          "left", "not moving"], "coming closer"),
    ("Is the bear spinning clockwise or counter-clockwise?", ["clockwise", "counter-clockwise",
                                                              "not spinning", "no bear there"],
     "counter-clockwise"),
    ("How many people are moving to the left?", [0, 1, 2, 3], 2),
    ("How many times does the horse jump to the right?", [0, 1, 2, 3], 1),
    ("From the car's perspective, is the car turning to the left or right?",
     ["left", "right", "not moving", "moving straight and not turning"], "left"),
    ("At the end of the video, which way is the koala facing?", ["left", "right", "neither",
                                                                 "no koala there"], "left"),
    ("Which direction is the stove moving in?", ["South", "Not moving", "North", "East"],
     "Not moving"),
    ("What direction did the ball come from?", ["left", "right", "above", "below"], "left"),
    ("How many people are not moving?", [0, 1, 2, 3], 3),
]  # fmt: skip
FIXTURE_SYNTHETIC = [
    ("What direction is the dragon moving towards?", ["left", "right", "no dragon there",
                                                      "not moving"], "no dragon there"),
    ("Which direction is the robot moving?", ["left then right", "right then left",
                                              "not moving", "no robot there"], "right then left"),
]  # fmt: skip
HUB = "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/"


def write_fixture(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, video in (("real_mc.json", FIXTURE_REAL, "videos_real/davis/a.mp4"),
                              ("synthetic_mc.json", FIXTURE_SYNTHETIC,
                               "videos_synthetic/s.mp4")):  # fmt: skip
        entries = [
            {"id": f"validation_{i + 1}", "video": HUB + video, "question_type": "multiple-choice",
             "question": q, "choices": dict(zip(LETTERS, opts)), "answer": ans}
            for i, (q, opts, ans) in enumerate(rows)
        ]  # fmt: skip
        (folder / name).write_text(json.dumps(entries), encoding="utf-8")
    return folder


@pytest.mark.subprocess
def test_rules_over_a_written_annotation_folder(tmp_path):
    from vlm4d_tasks.data.annotations import load_records

    records = load_records(write_fixture(tmp_path / "qa"))
    mirror = {r.question_id + r.subset: T.mirror_rule(r) for r in records}
    reverse = {r.question_id + r.subset: T.reverse_rule(r) for r in records}
    assert [reverse[f"validation_{i}real"] for i in range(1, 11)] == [
        "reversed", "reversed", "reversed", "reversed", "asymmetric_action", "turning",
        "ordered_events", "reversed", "goal_or_source", "time_symmetric",
    ]  # fmt: skip
    assert reverse["validation_2synthetic"] == "time_symmetric"  # "left then right" stays
    assert mirror["validation_8real"] == "compass_direction"
    assert mirror["validation_10real"] == "unchanged"
    # the bench script prints the same counts, per subset and category
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "transform_rules.py"),
                          str(tmp_path / "qa"), "--examples", "1"],
                         capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    lines = run.stdout.splitlines()
    total = lines.index("## reverse") + 4
    counts = T.rule_counts(records, T.REVERSE)
    kept = sum(v for row in counts.values() for k, v in row.items() if T.REVERSE_RULES[k].kept)
    assert lines[total + len(counts)].startswith(f"| all |  | 12 | {kept} |")
    assert "| real | counting | 3 | 2 |" in run.stdout
    assert "revalidation failures: 0" in run.stdout
    assert "reverse rule `turning` (left out" in run.stdout


@pytest.mark.subprocess
def test_same_output_in_any_process_and_hash_seed(tmp_path):
    folder = write_fixture(tmp_path / "qa")
    script = (
        "import json, sys\n"
        "from vlm4d_tasks.data.annotations import load_records\n"
        "from vlm4d_tasks.validity import transforms as T\n"
        "out = []\n"
        "for r in load_records(sys.argv[1]):\n"
        "    for kind in T.KINDS:\n"
        "        t = T.transform(r, kind)\n"
        "        out.append([T.transform_rule(r, kind), t and t.to_dict()])\n"
        "    out.append([x.to_dict() for x in T.rotations(r)])\n"
        "print(json.dumps(out, sort_keys=True))\n"
    )
    outputs = []
    for seed in ("0", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", script, str(folder)], env=env,
                             capture_output=True, timeout=120, check=True)  # fmt: skip
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1] and len(json.loads(outputs[0])) == 12 * 3
