"""Small annotation files in the official format, written by the tests themselves.

The questions imitate the release's style (they are not copied from it); a few entries carry
one defect each so that every validation flag is exercised.
"""

from __future__ import annotations

import json
from pathlib import Path

HUB = "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/"


def entry(qid, video, question, choices, answer):
    return {
        "id": qid,
        "video": HUB + video,
        "question_type": "multiple-choice",
        "question": question,
        "choices": dict(zip("ABCD", choices)),
        "answer": answer,
    }


REAL = [
    entry(
        "validation_1",
        "videos_real/davis/tram-run.mp4",
        "What direction is the tram moving towards?",
        ["left", "right", "not moving", "there are no trams in the video"],
        "right",
    ),
    entry(
        "validation_2",
        "videos_real/davis/tram-run.mp4",
        "Is the conductor spinning clockwise or counter-clockwise?",
        ["clockwise", "counter-clockwise", "not spinning", "there are no people in the video"],
        "there are no people in the video",
    ),
    entry(
        "validation_3",
        "videos_real/youtube-vos/0a1b2c.mp4",
        "How many times does the goat jump to the left?",
        [0, 1, 2, 3],
        2,
    ),
    entry(
        "validation_4",
        "videos_real/youtube-vos/0a1b2c.mp4",
        "Is the goat turning to the left or right from its own perspective?",
        ["left", "right", "moving straight and not turning", "not moving"],
        "left",
    ),
    entry(
        "validation_923",
        "videos_real/ego4d/clip_500.mp4",
        "Which direction does the person turn to put down the cup?",
        ["forward", "right", "backward", "left"],
        "left",
    ),
    entry(
        "validation_924",
        "videos_real/ego4d/clip_500.mp4",
        "From the camera perspective, what direction is the cutting board moving towards?",
        ["towards the camera", "away from the camera", "left", "No board"],
        "No board",
    ),
    # defects, one per kind
    entry(
        "validation_925",
        "videos_real/ego4d/clip_501.mp4",
        "Which way does the person carry the bucket?",
        ["left", "right", "forwards", "backwards"],
        "upwards",
    ),  # answer matches no option
    entry(
        "validation_926",
        "videos_real/ego4d/clip_501.mp4",
        "What direction is the dog moving towards?",
        ["left", "away", "away", "right"],
        "away",
    ),  # duplicate options, several matches
    entry(
        "validation_926",
        "videos_real/ego4d/clip_502.mp4",
        "Which direction is the kettle moving?",
        ["up", "down", "left", "right"],
        "up",
    ),  # duplicate id
    entry(
        "validation_928",
        "videos_other/clip.mp4",
        "What direction is the kite moving towards?",
        ["left", "right", "up", "down"],
        "up",
    ),  # unknown video folder
    {
        "id": "validation_929",
        "video": HUB + "videos_real/ego4d/clip_503.mp4",
        "question_type": "multiple-choice",
        "choices": dict(zip("ABCD", ["a", "b", "c", "d"])),
        "answer": "a",
    },  # missing question
    entry(
        "validation_930",
        "videos_real/ego4d/clip_503.mp4",
        "Which way is the drawer pulled?",
        ["out", "in", ["left"], "right"],
        "out",
    ),  # ill-typed
    entry(
        "validation_5",
        "videos_real/ego4d/clip_504.mp4",
        "What direction is the person walking?",
        ["left", "right", "forwards", "backwards"],
        "forwards",
    ),  # ego clip, id says exo
]

SYNTHETIC = [
    entry(
        "validation_1",
        "videos_synthetic/synth_001.mp4",
        "Which direction is the robotic arm moving?",
        ["left", "no robotic arm there", "not moving", "right"],
        "left",
    ),
    entry(
        "validation_2",
        "videos_synthetic/synth_001.mp4",
        "Which direction is the dragon flying?",
        ["left", "right", "no dragon there", "towards the camera"],
        "no dragon there",
    ),
    entry(
        "validation_3",
        "videos_synthetic/synth_002.mp4",
        "Is the windmill rotating clockwise or counter-clockwise?",
        ["clockwise", "counter-clockwise", "not rotating", "no windmill there"],
        "clockwise",
    ),
    entry(
        "validation_4",
        "videos_synthetic/synth_003.mp4",
        "What direction is the rover moving towards?",
        ["towards the camera", "away from the camera", "left", "no rover there"],
        "away from the camera",
    ),
]

# uid -> expected flags, for the defect entries above
EXPECTED_FLAGS = {
    "real/validation_925": ["answer_matches_no_option"],
    "real/validation_926": ["duplicate_options", "answer_matches_several_options"],
    "real/validation_926#2": ["duplicate_id"],
    "real/validation_928": ["unknown_video_folder"],
    "real/validation_929": ["missing_field:question"],
    "real/validation_930": ["ill_typed_field:choices"],
    "real/validation_5": ["perspective_disagrees_with_id"],
}


def write_annotations(folder: Path, real=REAL, synthetic=SYNTHETIC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "real_mc.json").write_text(json.dumps(real, indent=1), encoding="utf-8")
    (folder / "synthetic_mc.json").write_text(json.dumps(synthetic, indent=1), encoding="utf-8")
    return folder
