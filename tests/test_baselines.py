"""The score document's validity block: baseline rows, the debiased column, and how the
Markdown shows them; on records made here, with a debiased list made here."""

from __future__ import annotations

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict, join
from vlm4d_tasks.pipeline.score import score_document
from vlm4d_tasks.report.score_report import markdown_report
from vlm4d_tasks.validity import baselines, debias


def rec(subset: str, n: int, options: list[str], answer: str, video: str) -> Record:
    return Record(
        uid=f"{subset}/q{n}", question_id=f"q{n}", subset=subset,
        source="davis" if subset == "real" else "cosmos",
        perspective="exocentric" if subset == "real" else None, category="translational",
        question=f"Which way does object {n} move?", options=options,
        answer=answer, answer_text=options["ABCD".index(answer)],
        video=f"videos_real/davis/{video}.mp4" if subset == "real" else f"videos_synthetic/{video}.mp4",
    )  # fmt: skip


LR = ["left", "right", "towards the camera", "away from the camera"]
# Real: "left" is right in 3 of the 4 questions that offer it; synthetic: "right" in 2 of 2.
RECORDS = [
    rec("real", 1, LR, "A", "v1"),
    rec("real", 2, LR, "A", "v1"),
    rec("real", 3, LR, "A", "v2"),
    rec("real", 4, LR, "C", "v3"),
    rec("synthetic", 1, ["right", "left", "up", "down"], "A", "s1"),
    rec("synthetic", 2, ["up", "right", "left", "down"], "B", "s2"),
]


def _document(kept: dict[str, list[str]]) -> dict:
    subsets = {}
    for subset, uids in kept.items():
        group = [r for r in RECORDS if r.subset == subset]
        subsets[subset] = {
            "content_sha256": debias.content_sha256(group), "questions": len(group),
            "kept": len(uids), "kept_uids": sorted(uids),
            "categories": {"translational": {"full": len(group), "kept": len(uids)}},
        }  # fmt: skip
    return {"version": debias.DEBIASED_VERSION, "method": "test", "subsets": subsets,
            "parameters": debias.PruneParameters().to_dict()}  # fmt: skip


def test_prior_rows_pool_each_subset_leave_one_out():
    items = {it.record.uid: it for it in baselines.prior_items(RECORDS)}
    # real/q1: the other real questions make "left" right 2 of 3 times, "towards" 1 of 3: A
    assert items["real/q1"].verdict.letter == "A" and items["real/q1"].correct
    # real/q4: "left" right 3 of 3 elsewhere: the prior says A, the answer is C
    assert items["real/q4"].verdict.letter == "A" and not items["real/q4"].correct
    # synthetic/q1: the one other question makes "right" right (1/1): A, correct
    assert items["synthetic/q1"].correct and items["synthetic/q2"].correct


def test_random_rows_follow_the_random_model():
    pytest.importorskip("lmms_eval")
    from vlm4d_tasks.lmms.models.vlm4d_random import choose

    items = baselines.random_items(RECORDS, seed=4)
    assert [it.verdict.letter for it in items] == [choose(4, r.uid) for r in RECORDS]


def _models() -> dict:
    verdicts = [Verdict.chosen(r.uid, "A", "test") for r in RECORDS]
    return {"model-a": join(verdicts, RECORDS)}


def test_debiased_accuracy_uses_the_list_only_for_the_questions_it_was_made_from():
    document = _document({"real": ["real/q3", "real/q4"], "synthetic": ["synthetic/q2"]})
    block = baselines.validity_block(_models(), resamples=50, seed=0, document=document)
    assert block["debiased"]["subsets"] == {"real": "shipped", "synthetic": "shipped"}
    # model-a answers A everywhere: right on real/q3, wrong on real/q4 and synthetic/q2
    debiased = block["models"]["model-a"]["debiased"]
    assert (debiased["correct"], debiased["scored"]) == (1, 3)
    # the control: as many removed at random from each subset and category (2 real, 1
    # synthetic translational questions), 20 seeds
    kept = ["real/q3", "real/q4", "synthetic/q2"]
    sets = debias.matched_removal(RECORDS, kept, baselines.RANDOM_SEEDS)
    assert len(sets) == 20 and all(len(uids) == 3 for uids in sets.values())
    right = {"real/q1", "real/q2", "real/q3", "synthetic/q1"}  # model-a answers A everywhere
    values = [sum(u in right for u in kept) / len(kept) for kept in sets.values()]
    control = block["models"]["model-a"]["random_removed"]
    assert control["accuracy"] == pytest.approx(sum(values) / len(values), abs=1e-6)
    assert (control["min"], control["max"]) == (round(min(values), 6), round(max(values), 6))
    assert [row["model"] for row in block["baselines"]] == [
        baselines.PRIOR_ROW,
        baselines.random_row_name(0),
    ]
    # another question text in the synthetic subset: its list no longer applies
    changed = [*RECORDS[:4], rec("synthetic", 1, ["right", "left", "up", "down"], "B", "s1"),
               RECORDS[5]]  # fmt: skip
    models = {"model-a": join([Verdict.chosen(r.uid, "A", "t") for r in changed], changed)}
    block = baselines.validity_block(models, resamples=50, seed=0, document=document)
    assert block["debiased"]["subsets"]["synthetic"].startswith("not the official release")
    assert block["models"]["model-a"]["debiased"]["scored"] == 2  # real/q3, real/q4 only


def test_probe_questions_get_no_validity_block():
    probe = Record(uid="probe/p1", question_id="p1", subset="probe", source="probe",
                   perspective=None, category="translational", question="Which way?",
                   options=LR, answer="A", answer_text="left", video="p.mp4")  # fmt: skip
    models = {"m": join([Verdict.chosen("probe/p1", "A", "t")], [probe])}
    assert baselines.validity_block(models, resamples=10, seed=0) is None


def test_markdown_shows_baselines_and_debiased_column(monkeypatch):
    document = _document({"real": ["real/q3", "real/q4"], "synthetic": ["synthetic/q2"]})
    monkeypatch.setattr(debias, "load_debiased", lambda: debias.check_document(document))
    score = score_document([], _models(), judge={"mode": "rule"}, resamples=50)
    text = markdown_report(score)
    header = next(line for line in text.splitlines() if line.startswith("| Model"))
    assert header.endswith("| 95% CI | Chance-corr. | Debiased | Random-removed |")
    row = next(line for line in text.splitlines() if line.startswith("| model-a"))
    assert row.split("|")[-3].strip() == "33.3"  # debiased: 1 of 3
    assert f"| {baselines.PRIOR_ROW} |" in text and "| random (seed 0) |" in text
    assert "kept by `debiased-v1`" in text


def test_consistency_rows_pair_each_variant_with_its_base_row():
    from vlm4d_tasks.validity.transforms import mirror, rotations

    real = RECORDS[:4]
    base = join([Verdict.chosen(r.uid, "A", "t") for r in real], real)  # right on q1-q3
    mirrored = [mirror(r) for r in real]
    # mirrored: q1 right, q2 wrong, q3 right, q4 right (its answer letter is C)
    letters = {"real/q1": "A", "real/q2": "B", "real/q3": "A", "real/q4": "C"}
    mirror_items = join(
        [Verdict.chosen(m.uid, letters[m.uid.split("#")[0]], "t") for m in mirrored], mirrored
    )
    rotated = [r for rec_ in real[:2] for r in rotations(rec_)]
    # q1: all four rotations right; q2: rotation 3 wrong
    rot_verdicts = [
        Verdict.chosen(r.uid, r.answer if r.uid != "real/q2#rot3" else "ABCD"[r.answer_index - 1],
                       "t")
        for r in rotated
    ]  # fmt: skip
    models = {
        "m [vlm4d_mc]": base,
        "m [vlm4d_mc_mirror]": mirror_items,
        "m [vlm4d_mc_circular]": join(rot_verdicts, rotated),
    }
    block = baselines.validity_block(models, resamples=20, seed=0)
    by_variant = {entry["variant"]: entry for entry in block["consistency"]}
    m = by_variant["mirror"]
    assert m["model"] == "m [vlm4d_mc]" and m["row"] == "m [vlm4d_mc_mirror]"
    # right in both forms: q1, q3 (q2 wrong mirrored; q4 wrong in the base): 2 of 4
    assert m["consistency"] == 0.5 and m["both_right"] == 2
    assert m["base_accuracy"] == 0.75 and m["variant_accuracy"] == 0.75
    c = by_variant["circular"]
    assert c["consistency"] == 0.5 and (c["correct"], c["scored"]) == (1, 2)
    assert c["variant_accuracy"] == 7 / 8 and c["base_accuracy"] == 1.0
    # the transformed questions get no baseline or debiased numbers of their own
    assert set(block["models"]) == {"m [vlm4d_mc]"}
    assert block["baselines"][0]["columns"]["overall"]["n"] == 4
    text = markdown_report(score_document([], models, judge={"mode": "rule"}, resamples=20))
    assert "| m [vlm4d_mc_mirror] | mirror | 4 | 75.0 | 75.0 | 50.0 |" in text
    assert "| m [vlm4d_mc_circular] | circular | 8 | 100.0 | 87.5 | 50.0 |" in text


def test_a_run_of_transformed_questions_alone_scores_and_reports():
    """`--tasks vlm4d_mc_circular` alone (or an lmms-eval run's document written after its
    first variant task): a validity block of consistency only, with no base row; the score
    document, its Markdown and the leaderboard all take it."""
    from vlm4d_tasks.pipeline import rows as score_rows
    from vlm4d_tasks.pipeline.document import check_score
    from vlm4d_tasks.report import leaderboard as lb
    from vlm4d_tasks.report import leaderboard_render as render
    from vlm4d_tasks.validity.transforms import rotations

    rotated = [r for rec_ in RECORDS[:2] for r in rotations(rec_)]
    models = {"m [vlm4d_mc_circular]": join([Verdict.chosen(r.uid, r.answer, "t")
                                             for r in rotated], rotated)}  # fmt: skip
    score = score_document([], models, judge={"mode": "rule"}, resamples=20)
    (entry,) = score["validity"]["consistency"]
    assert entry["model"] is None and entry["consistency"] == 1.0
    assert set(score["validity"]) == {"consistency"}
    check_score(score)
    assert "| m [vlm4d_mc_circular] | circular | 8 |" in markdown_report(score)
    board = lb.build([score_rows.Source("s.json", score)], resamples=20)
    assert "no base row in the run" in render.report_markdown(board)
