"""The blind predictor (`validity.blind`) and the debiased set (`validity.debias`) on a pool
with a planted text shortcut: some answers are "the glowing one", an option offered only when
it is right; every other answer is a uniformly random position among generic options."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vlm4d_tasks.data.schema import LETTERS, Record
from vlm4d_tasks.metric.stats import chance_corrected
from vlm4d_tasks.validity import blind, debias, prior

SHORTCUT = "the glowing one"
NOUNS = ["dog", "car", "boat", "bird", "horse", "train", "kite", "robot", "cat", "bus", "goat"]
GENERIC = {
    "translational": ["left", "right", "up", "down", "not moving", "towards the camera", "away"],
    "false_positive": ["left", "right", "up", "down", "not moving", "towards the camera", "away"],
    "rotational": ["clockwise", "counter-clockwise", "left", "right", "not turning"],
    "counting": ["0", "1", "2", "3", "4"],
}
QUESTIONS = {
    "translational": "What direction is the {} moving towards?",
    "false_positive": "Which way is the {} going?",
    "rotational": "Is the {} turning clockwise or counter-clockwise?",
    "counting": "How many times does the {} jump?",
}
# category -> (questions, of which carry the shortcut). Rotational has more shortcut questions
# (20) than its 50% floor lets go (15): the floor, not the ranking, must stop those 5.
PLAN = {
    "translational": (80, 30),
    "rotational": (30, 20),
    "counting": (50, 0),
    "false_positive": (40, 0),
}
FAST = {"step": 10}  # smaller rounds than the default, to see the removal order


def make_records(
    subset: str = "real", seed: int = 0, plan: dict = PLAN
) -> tuple[list[Record], set[str]]:
    """The pool (two questions per video) and the uids that carry the shortcut."""
    rng = np.random.default_rng(seed)
    records, planted_uids = [], set()
    index = 0
    for category, (count, planted) in plan.items():
        for j in range(count):
            qid = f"validation_{index}"
            options = [str(t) for t in rng.choice(GENERIC[category], size=4, replace=False)]
            position = int(rng.integers(4))
            if j < planted:
                options[position] = SHORTCUT
                planted_uids.add(f"{subset}/{qid}")
            noun = NOUNS[int(rng.integers(len(NOUNS)))]
            records.append(
                Record(
                    uid=f"{subset}/{qid}",
                    question_id=qid,
                    subset=subset,
                    source="davis",
                    perspective="exocentric" if subset == "real" else None,
                    category=category,
                    question=QUESTIONS[category].format(noun),
                    options=options,
                    answer=LETTERS[position],
                    answer_text=options[position],
                    video=f"videos_{subset}/clip_{index // 2:03d}.mp4",
                    flags=[],
                )
            )
            index += 1
    return records, planted_uids


@pytest.fixture(scope="module")
def pool():
    return make_records()


@pytest.fixture(scope="module")
def pruned(pool):
    records, _ = pool
    return debias.prune(records, **FAST)


def blind_accuracy(records: list[Record]) -> float:
    return prior.accuracy(records, blind.blind_predictions(records))


def test_bias_scores_rank_the_planted_shortcut_highest(pool):
    records, planted = pool
    scores = blind.bias_scores(records)
    assert sorted(scores) == sorted(r.uid for r in records)
    ranked = sorted(scores, key=lambda uid: (-scores[uid], uid))
    top = ranked[: len(planted)]
    assert sum(uid in planted for uid in top) >= 0.9 * len(planted)
    planted_mean = np.mean([scores[u] for u in planted])
    other_mean = np.mean([scores[u] for u in scores if u not in planted])
    assert planted_mean > 0.5
    assert abs(other_mean - 0.25) < 0.05  # the rest is unpredictable: near chance
    # The letter predictions agree with the probabilities behind the scores.
    letters = blind.blind_predictions(records)
    assert all(letters[u] == records_by_uid(records)[u].answer for u in top[:20])


def records_by_uid(records: list[Record]) -> dict[str, Record]:
    return {r.uid: r for r in records}


def test_folds_keep_each_video_on_one_side():
    videos = [f"v{i // 3}" for i in range(30)] + ["w0", "w1"]
    for seed in (0, 1):
        folds = blind.fold_assignment(videos, 5, seed)
        assert sorted(set(folds.tolist())) == [0, 1, 2, 3, 4]
        for video in set(videos):
            assert len({int(f) for f, v in zip(folds, videos) if v == video}) == 1
        assert np.array_equal(folds, blind.fold_assignment(videos, 5, seed))
    assert not np.array_equal(
        blind.fold_assignment(videos, 5, 0), blind.fold_assignment(videos, 5, 1)
    )
    with pytest.raises(ValueError, match="5 folds need at least 5 videos"):
        blind.fold_assignment(["a", "a", "b"], 5, 0)


def test_questions_of_one_clip_never_teach_each_other():
    # Each clip has two identical questions with options no other clip offers and a random
    # answer. Only a split that puts one twin in training and the other in test could learn
    # it (the prior of a twin's text would be 1); grouped by video it is chance.
    rng = np.random.default_rng(3)
    records = []
    for clip in range(60):
        options = [f"option {clip}-{k}" for k in range(4)]
        answer = LETTERS[int(rng.integers(4))]
        for twin in range(2):
            qid = f"validation_{clip}_{twin}"
            records.append(
                Record(
                    uid=f"real/{qid}",
                    question_id=qid,
                    subset="real",
                    source="davis",
                    perspective="exocentric",
                    category="translational",
                    question="What direction is the thing moving towards?",
                    options=options,
                    answer=answer,
                    answer_text=options[LETTERS.index(answer)],
                    video=f"videos_real/davis/clip_{clip}.mp4",
                    flags=[],
                )
            )
    assert blind_accuracy(records) < 0.4


def test_pruning_removes_the_shortcut_first_and_respects_the_floors(pool, pruned):
    records, planted = pool
    order = [uid for r in pruned.rounds for uid in r.removed]
    assert set(order) == set(pruned.removed)
    assert pruned.rounds[0].removed and all(u in planted for u in pruned.rounds[0].removed)
    # Planted questions go first (the rounds' lists are in rank order), and most of those the
    # floors allow (30 + 15) go before the pool's blind accuracy is near chance.
    flags = [uid in planted for uid in order]
    first = sum(flags)
    assert flags == [True] * first + [False] * (len(flags) - first)
    assert first >= 35
    floors = debias.category_floors(records, 0.5)
    assert floors == {"counting": 25, "false_positive": 20, "rotational": 15, "translational": 40}
    counts = pruned.counts["real"]
    for category, (full, _) in PLAN.items():
        assert counts[category]["full"] == full
        assert counts[category]["kept"] >= math.ceil(full / 2)
    assert counts["rotational"]["kept"] == floors["rotational"]  # the floor held the rest
    assert len(pruned.removed) <= math.floor(0.30 * len(records))
    assert pruned.kept == sorted(set(pruned.kept))
    assert set(pruned.kept).isdisjoint(pruned.removed)
    assert len(pruned.kept) + len(pruned.removed) == len(records)
    # The round a question left in is recorded; the last round says why pruning stopped.
    for entry in pruned.rounds:
        assert all(pruned.removed[uid] == entry.round for uid in entry.removed)
    assert pruned.rounds[-1].stop in {"near_chance", "no_candidate", "budget"}
    assert all(entry.stop is None for entry in pruned.rounds[:-1])


def test_the_budget_caps_what_is_removed(pool):
    records, planted = pool
    result = debias.prune(records, budget=0.1, step=8)
    assert len(result.removed) == 20  # floor(0.1 * 200): every removal is planted
    assert set(result.removed) <= planted
    assert [len(r.removed) for r in result.rounds] == [8, 8, 4, 0]
    assert result.rounds[-1].stop == "budget"


def test_blind_accuracy_falls_more_than_under_random_removal(pool, pruned):
    records, _ = pool
    before = blind_accuracy(records)
    kept = set(pruned.kept)
    after = blind_accuracy([r for r in records if r.uid in kept])
    assert pruned.rounds[0].blind_accuracy == pytest.approx(before)
    assert pruned.rounds[-1].blind_accuracy == pytest.approx(after)
    assert after < before - 0.1
    randoms = debias.random_removal(records, {"real": len(pruned.removed)}, (0, 1, 2))
    for uids in randoms.values():
        chosen = set(uids)
        assert after < blind_accuracy([r for r in records if r.uid in chosen])
    prior_after = prior.prior_accuracy([r for r in records if r.uid in kept])
    assert prior_after < prior.prior_accuracy(records)


def test_random_removal_counts_floors_and_seeds(pool):
    records, _ = pool
    runs = debias.random_removal(records, {"real": 70}, (0, 1))
    assert runs == debias.random_removal(list(reversed(records)), {"real": 70}, (0, 1))
    assert runs[0] != runs[1]
    for kept in runs.values():
        assert len(kept) == 130 and kept == sorted(kept)
        counts = debias.category_counts(records, kept)["real"]
        assert all(c["kept"] >= math.ceil(c["full"] / 2) for c in counts.values())
    assert len(debias.random_removal(records, 10, (5,))[5]) == 190
    with pytest.raises(ValueError, match="cannot be removed while keeping 50%"):
        debias.random_removal(records, 101, (0,))
    with pytest.raises(ValueError, match="no questions of subset"):
        debias.random_removal(records, {"synthetic": 1}, (0,))


def test_pruning_is_deterministic_in_any_order(pool, pruned):
    records, _ = pool
    again = debias.prune(list(reversed(records)), **FAST)
    assert again.to_dict() == pruned.to_dict()


SUBPROCESS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from test_debias import FAST, make_records
from vlm4d_tasks.validity import debias
records, _ = make_records()
print(json.dumps(debias.prune(records, **FAST).to_dict(), sort_keys=True))
"""


@pytest.mark.subprocess
def test_pruning_is_the_same_under_another_hash_seed(pruned):
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    tests = str(Path(__file__).parent)
    out = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, tests],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    assert out.strip() == json.dumps(pruned.to_dict(), sort_keys=True)


def test_chance_corrected():
    assert chance_corrected(0.25) == 0.0
    assert chance_corrected(1.0) == 1.0
    assert chance_corrected(0.625) == pytest.approx(0.5)
    assert chance_corrected(0.0) == pytest.approx(-1 / 3)
    assert chance_corrected(0.75, n_options=2) == pytest.approx(0.5)
    assert chance_corrected(None) is None
    with pytest.raises(ValueError):
        chance_corrected(0.5, n_options=1)


def test_debiased_uids_prunes_records_that_are_not_the_release(pool):
    records, _ = pool
    found = debias.debiased_uids(records)
    assert found.source == "computed" and found.sources == {"real": "computed"}
    assert found.version == debias.DEBIASED_VERSION
    params = debias.load_debiased()["parameters"]
    expected = debias.prune(records, **params)
    assert found.kept == expected.kept
    assert found.result is not None and found.result.to_dict() == expected.to_dict()


def test_debiased_uids_uses_a_shipped_subset_whose_content_matches(pool, pruned):
    records, _ = pool
    document = debias.debiased_document(records, pruned)
    shipped = debias.debiased_uids(records, document=document)
    assert shipped.source == "shipped" and shipped.result is None
    assert shipped.kept == pruned.kept
    # Other content (one question reworded) is no longer the shipped pool: it is pruned.
    changed = [
        Record(**{**r.to_dict(), "question": r.question + " Look closely."}) if i == 0 else r
        for i, r in enumerate(records)
    ]
    assert debias.debiased_uids(changed, document=document).source == "computed"
    # Subsets are matched one by one.
    other, _ = make_records(
        "synthetic", seed=1, plan={"translational": (30, 10), "counting": (20, 0)}
    )
    assert debias.shipped_kept(records + other, document=document) == {
        "real": pruned.kept,
        "synthetic": None,
    }
    mixed = debias.debiased_uids(records + other, document=document)
    assert mixed.sources == {"real": "shipped", "synthetic": "computed"}
    assert mixed.source == "mixed"
    assert [u for u in mixed.kept if u.startswith("real/")] == pruned.kept
    assert mixed.result is not None and mixed.result.kept == [
        u for u in mixed.kept if u.startswith("synthetic/")
    ]


def test_shipped_set_is_self_consistent():
    document = debias.load_debiased()
    assert document["version"] == debias.DEBIASED_VERSION == "debiased-v1"
    assert set(document["subsets"]) <= {"real", "synthetic"}
    for subset, entry in document["subsets"].items():
        uids = entry["kept_uids"]
        assert uids == sorted(set(uids)) and all(u.startswith(f"{subset}/") for u in uids)
        assert entry["kept"] == len(uids) == sum(c["kept"] for c in entry["categories"].values())
        assert entry["questions"] == sum(c["full"] for c in entry["categories"].values())
        assert len(entry["content_sha256"]) == 64
        floors = debias.PruneParameters(**document["parameters"]).min_keep_per_category
        for c in entry["categories"].values():
            assert c["kept"] >= math.ceil(floors * c["full"])
    shipped = Path(debias.__file__).with_name(debias.DEBIASED_FILE).read_text(encoding="utf-8")
    assert shipped == debias.dumps_document(document)  # stable formatting


def test_check_document_names_the_broken_field(pool, pruned):
    records, _ = pool
    good = debias.debiased_document(records, pruned)
    assert debias.check_document(good) is good
    bad = json.loads(json.dumps(good))
    bad["subsets"]["real"]["kept"] += 1
    with pytest.raises(ValueError, match=r"field 'subsets.real.kept'"):
        debias.check_document(bad)
    bad = json.loads(json.dumps(good))
    bad["subsets"]["real"]["kept_uids"].reverse()
    with pytest.raises(ValueError, match=r"field 'subsets.real.kept_uids'"):
        debias.check_document(bad)
    with pytest.raises(ValueError, match=r"field 'version'"):
        debias.check_document({**good, "version": "debiased-v0"})
    with pytest.raises(ValueError, match=r"field 'parameters'"):
        debias.check_document({**good, "parameters": {"budget": 2}})


def test_bad_input_names_record_and_field(pool):
    records, _ = pool
    no_video = [Record(**{**records[0].to_dict(), "video": ""}), *records[1:]]
    with pytest.raises(ValueError, match=r"record real/validation_0: field 'video'"):
        blind.bias_scores(no_video)
    odd = [Record(**{**records[0].to_dict(), "category": "teleporting"}), *records[1:]]
    with pytest.raises(ValueError, match=r"record real/validation_0: field 'category'"):
        debias.prune(odd)
    with pytest.raises(ValueError, match=r"field 'uid'"):
        debias.prune(records + records[:1])
    with pytest.raises(ValueError, match="budget"):
        debias.prune(records, budget=1.5)
