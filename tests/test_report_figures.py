"""`vlm4d report`'s figures from score documents: the direction confusion matrix (counts by
hand on a hand-made document, one matrix per prompt setting), documents written before the
outcomes named the chosen option (they still load; the matrix is left out with a note), and
the probe set's twin figure in the report of a probe run (labels found through the run's
dataset, or given with --probe)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict, join
from vlm4d_tasks.pipeline import rows as score_rows
from vlm4d_tasks.pipeline import score as pipeline
from vlm4d_tasks.pipeline.document import ScoreFileError
from vlm4d_tasks.report import figures
from vlm4d_tasks.report import leaderboard as lb

# (options, answer letter) of five hand-made questions; directions as the release words them.
QUESTIONS = [
    (["left", "right", "not moving", "there are no cars in the video"], "A"),  # left
    (["coming closer", "going further away", "left", "right"], "A"),  # towards
    (["to the right", "to the left", "staying in place", "no dog there"], "C"),  # not moving
    (["no bear there", "left", "right", "not moving"], "A"),  # absent
    (["0", "1", "2", "3"], "B"),  # counting: no direction
]


def _records(subset: str = "real") -> list[Record]:
    return [
        Record(
            uid=f"{subset}/q{i}", question_id=f"q{i}", subset=subset, source="davis",
            perspective="exocentric", category="translational", question="Which way?",
            options=options, answer=answer, answer_text=options["ABCD".index(answer)],
            video=f"v{i}.mp4",
        )
        for i, (options, answer) in enumerate(QUESTIONS, 1)
    ]  # fmt: skip


def _run(model: str, variant: str, letters: list[str | None | bool]) -> tuple[dict, list]:
    """A run of `model` that chose `letters` (None: no valid answer; False: unresolved)."""
    records = _records()
    verdicts = [
        Verdict.unresolved(r.uid, "judge:j", "HTTP 503") if letter is False
        else Verdict.chosen(r.uid, letter, "given")
        for r, letter in zip(records, letters)
    ]  # fmt: skip
    items = join(verdicts, records)
    run = pipeline.run_entry(items, name=model, model=f"{model} ({variant})", variant=variant,
                             subset="real", file=None, grading={"mode": "rule"}, resamples=50,
                             seed=0)  # fmt: skip
    return run, items


def hand_made_document() -> dict:
    """Model a: chain of thought and direct output; model b: chain of thought."""
    answers = {
        ("a", "cot"): ["B", "B", "A", "A", "B"],  # left->right, towards->away, still->right,
        # absent right, counting right
        ("a", "direct-output"): ["A", None, "C", "D", "A"],  # left right, towards none,
        # still right, absent->not moving
        ("b", "cot"): ["B", "A", False, "B", "C"],  # left->right, towards right, (unresolved),
        # absent->left
    }
    runs, models = [], {}
    for (model, variant), letters in answers.items():
        run, items = _run(model, variant, letters)
        runs.append(run)
        models[f"{model} ({variant})"] = items
    return pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                   resamples=50, seed=0)  # fmt: skip


def _table(matrix: figures.DirectionConfusion) -> dict[str, dict[str, int]]:
    """The non-zero cells, row -> column -> count."""
    return {
        row: {c: n for c, n in zip(matrix.columns, counts) if n}
        for row, counts in zip(matrix.rows, matrix.counts)
    }


# --------------------------------------------------------------------------------------------
# The direction confusion matrix


def test_direction_confusion_of_a_hand_made_document_one_matrix_per_prompt_setting():
    document = hand_made_document()
    groups = figures.direction_groups([document])
    assert [(g.key, g.models) for g in groups] == [
        ("cot", ("a (cot)", "b (cot)")),
        ("direct-output", ("a (direct-output)",)),
    ]
    cot, direct = groups
    # By hand: a (cot) left->right, towards->away, not moving->right, absent->absent; b (cot)
    # left->right, towards->towards, absent->left; b's third answer is unresolved (left out)
    # and the counting questions are no direction (skipped).
    assert _table(cot.matrix) == {
        "left": {"right": 2},
        "towards": {"away": 1, "towards": 1},
        "not moving": {"right": 1},
        "absent": {"absent": 1, "left": 1},
    }
    assert (cot.matrix.total, cot.matrix.skipped) == (7, 2)
    assert _table(direct.matrix) == {
        "left": {"left": 1},
        "towards": {figures.NO_ANSWER: 1},
        "not moving": {"not moving": 1},
        "absent": {"not moving": 1},
    }
    # Counts alone: no cell has the 30 questions a percentage needs (`MIN_N_FOR_PERCENT`)
    no = "(n < 30: no percentage)"
    assert figures.confusion_summary(cot.matrix) == (
        f"true left answered right 2 of 2 {no}; true towards answered away 1 of 2 {no}; "
        f"true not moving answered a direction 1 of 1 {no}; a moving object answered not "
        f"moving 0 of 4 {no}; an absent object answered a direction or not moving 1 of 2 {no}."
    )
    texts = figures.figure_texts([document])
    assert texts["direction_confusion_cot.png"].startswith(
        "Chain of thought, 2 models pooled (`a (cot)`, `b (cot)`): 7 answers to direction "
        "questions; true left answered right 2 of 2 (n < 30: no percentage);"
    )
    assert texts["direction_confusion_direct-output.png"].startswith(
        "Direct output, `a (direct-output)`: 4 answers"
    )


def test_direction_of_the_release_wordings():
    said = {
        "left": ["Left.", "to the left", "from right to left", "moved to the left"],
        "right": ["right", "left to right", "To the right."],
        "towards": ["towards the camera", "coming closer", "closer towards the camera"],
        "away": ["away from the camera", "going further away", "further away from camera"],
        "not moving": ["not moving", "staying in place", "stationary"],
        "absent": ["there are no cars in the video", "no dragon there"],
        None: ["left hand", "left and towards the camera", "towards the cook", "clockwise", "3",
               "up", None],
    }  # fmt: skip
    for direction, texts in said.items():
        for text in texts:
            assert figures.direction_of(text) == direction, text


# --------------------------------------------------------------------------------------------
# Documents written before the outcomes named the chosen option


def _old(document: dict, *, outcomes: bool = True) -> dict:
    """The document as written before `truth` and `chosen` (or, with `outcomes=False`, before
    any per-question outcome) were recorded."""
    document = json.loads(json.dumps(document))
    for run in document["runs"]:
        if not outcomes:
            del run["outcomes"]
            continue
        for outcome in run["outcomes"]:
            del outcome["truth"], outcome["chosen"]
    return document


def _write(path: Path, document: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pipeline.score_json(document), encoding="utf-8")
    return path


def vlm4d(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vlm4d_tasks.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=dict(os.environ))  # fmt: skip


@pytest.mark.subprocess
def test_old_documents_load_and_the_matrix_is_left_out_with_a_note(tmp_path):
    new = hand_made_document()
    for old in (_old(new), _old(new, outcomes=False)):
        sources = score_rows.load_sources([_write(tmp_path / "old.json", old)], progress=False)
        rows = score_rows.measured_rows(sources)
        assert [r.columns["overall"].correct for r in rows] == [
            r.columns["overall"].correct
            for r in score_rows.measured_rows([score_rows.Source("n", new)])
        ]
        assert figures.direction_groups([old]) == []
        [note] = [n for n in figures.figure_notes([old]) if "confusion" in n]
        assert note.startswith("No direction confusion matrix for `a (cot)`, ")
        assert "not which option it chose" in note

    # Old and new documents together: the matrix of the new one, the old one's models named.
    renamed = _old(new)
    for run in renamed["runs"]:
        run["model"] = run["model"].replace("a (", "c (").replace("b (", "d (")
    for row in renamed["models"]:
        row["model"] = row["model"].replace("a (", "c (").replace("b (", "d (")
    groups = figures.direction_groups([new, renamed])
    assert [g.matrix.total for g in groups] == [7, 4]
    notes = figures.figure_notes([new, renamed])
    assert any(n.startswith("No direction confusion matrix for `c (cot)`, `c (direct-output)`, "
                            "`d (cot)`:") for n in notes)  # fmt: skip

    out = tmp_path / "report"
    done = vlm4d("report", tmp_path / "old.json", "--out", out, "--no-progress")
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text(encoding="utf-8")
    assert not list(out.glob("direction_confusion*.png"))
    assert "- No direction confusion matrix for `a (cot)`, `a (direct-output)`, `b (cot)`: their " \
           "score documents record whether each answer was right" in text  # fmt: skip


def test_a_half_recorded_or_mistyped_choice_is_named():
    document = hand_made_document()
    del document["runs"][0]["outcomes"][1]["chosen"]
    with pytest.raises(ScoreFileError, match=r"s.json: runs\[0\].outcomes\[1\]: has truth but "
                                             r"no chosen"):  # fmt: skip
        score_rows.measured_rows([score_rows.Source("s.json", document)])
    document = hand_made_document()
    document["runs"][2]["outcomes"][0]["truth"] = 3
    with pytest.raises(ScoreFileError, match=r"runs\[2\].outcomes\[0\].truth: expected an "
                                             r"option text or null, got 3"):  # fmt: skip
        score_rows.measured_rows([score_rows.Source("s.json", document)])


@pytest.mark.subprocess
def test_report_shows_the_matrices_with_captions_and_in_page_links(tmp_path):
    out = tmp_path / "report"
    done = vlm4d("report", _write(tmp_path / "s.json", hand_made_document()), "--out", out,
                 "--no-progress")  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text(encoding="utf-8")
    for name, caption in (
        ("direction_confusion_cot.png", "Direction questions: true vs chosen direction "
                                        "(chain of thought)"),
        ("direction_confusion_direct-output.png", "Direction questions: true vs chosen "
                                                  "direction (direct output)"),
    ):  # fmt: skip
        assert (out / name).is_file()
        assert f"![{caption}]({name})\n\n*Figure " in text
        assert f": {caption}.* " in text
    assert "Chain of thought, 2 models pooled (`a (cot)`, `b (cot)`): 7 answers" in text
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "true left answered right 2 of 2 (n &lt; 30: no percentage)" in page


# --------------------------------------------------------------------------------------------
# The probe set's twins


@pytest.fixture(scope="module")
def probe_set(tmp_path_factory) -> tuple[Path, list[Record]]:
    """A probe folder as `vlm4d generate-probe` writes it, without the videos (the report
    reads only its questions and labels)."""
    from vlm4d_tasks.probe.generate import ProbeSettings, plan_probe, write_annotations

    folder = tmp_path_factory.mktemp("probe")
    plan = plan_probe(ProbeSettings(n_scenes=8, seed=3))
    write_annotations(plan, folder)
    return folder, plan.records


def _static_only(record: Record) -> str:
    """Right on every static-camera (exocentric) question, the next option on every
    moving-camera one."""
    if record.perspective == "exocentric":
        return record.answer
    return "ABCD"[("ABCD".index(record.answer) + 1) % len(record.options)]


def _probe_document(records: list[Record], dataset: dict | None) -> dict:
    """An lmms-eval run of the probe task, made as `lmms.run.Run.document` makes it."""
    from vlm4d_tasks.lmms.protocol_run import describe_run

    items = join([Verdict.chosen(r.uid, _static_only(r), "given") for r in records], records)
    runs, models = pipeline.rows_to_runs({"vlm4d_probe_mc": items}, "m (x)", "rule",
                                         resamples=50, seed=0)  # fmt: skip
    meta = {"protocol": describe_run(["vlm4d_probe_mc"], seed=[0, 1, 2]), "dataset": dataset,
            "model": "m", "model_args": "pretrained=x", "limit": None}  # fmt: skip
    return pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                   resamples=50, seed=0, run=meta, judge_batches=[])  # fmt: skip


@pytest.mark.subprocess
def test_probe_twin_figure_in_the_report_of_a_probe_run(tmp_path, probe_set, monkeypatch):
    from vlm4d_tasks.data.annotations import load_annotations
    from vlm4d_tasks.data.dataset_repo import build_dataset_repo
    from vlm4d_tasks.lmms.data import dataset_provenance
    from vlm4d_tasks.probe.diagnose import diagnose

    folder, records = probe_set
    labels = json.loads((folder / "probe_labels.json").read_text(encoding="utf-8"))
    # The dataset built from the probe folder as `make demo` builds it, from one folder and
    # with relative names: its validation report names the records file as given, the run
    # records the file's hash.
    monkeypatch.chdir(tmp_path)
    relative = Path(os.path.relpath(folder, tmp_path))
    dataset = tmp_path / "vlm4d-probe"
    build_dataset_repo(load_annotations(relative, ["probe"]), dataset)
    described = {"origin": "local", "folder": str(dataset), "repo_id": None, "revision": None,
                 "videos": str(dataset), "annotations": dataset_provenance(dataset)}  # fmt: skip
    document = _probe_document(records, described)
    results = tmp_path / "lmms-eval"
    _write(results / "m" / "20250101_000000_vlm4d_score.json", document)

    # The diagnosis from the document's outcomes is the one of the letters given directly.
    sources = score_rows.load_sources([results], progress=False)
    rows = score_rows.measured_rows(sources)
    diagnoses, notes = lb.probe_diagnoses(sources, rows)
    assert notes == [] and list(diagnoses) == ["m (x) [vlm4d_probe_mc]"]
    expected = diagnose(records, labels, {r.question_id: _static_only(r) for r in records})
    got = diagnoses["m (x) [vlm4d_probe_mc]"]
    assert got.to_dict() == expected.to_dict()
    assert expected.confusion_chose_apparent > 0  # so the chosen letters are read back too
    # By hand: every twin pair is right on the static camera only.
    twins = sum(q["perspective"] == "exocentric" and bool(q["twin_question_id"])
                for q in labels["questions"])  # fmt: skip
    assert twins > 0
    assert got.pairs == {"both": 0, "static_only": twins, "moving_only": 0, "neither": 0}

    out = tmp_path / "report"
    done = vlm4d("report", results, "--out", out, "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (out / "report.md").read_text(encoding="utf-8")
    caption = "Probe set: static/moving camera twins, and accuracy by camera motion"
    assert (out / "probe_twins.png").is_file()
    assert f"![{caption}](probe_twins.png)" in text
    assert (
        f"`m (x) [vlm4d_probe_mc]`: {twins} twin pairs (both twins right 0, static camera only "
        f"{twins}, moving camera only 0, neither 0); camera-motion confusion:" in text
    )
    assert "direction_confusion_probe.png" in text  # the probe's own matrix, apart
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f'alt="{caption}"' in html


@pytest.mark.subprocess
def test_probe_folder_given_found_or_missing(tmp_path, probe_set):
    folder, records = probe_set
    document = _probe_document(records, None)  # records no dataset: only --probe can say
    score = _write(tmp_path / "probe.json", document)
    sources = score_rows.load_sources([score], progress=False)
    rows = score_rows.measured_rows(sources)
    diagnoses, notes = lb.probe_diagnoses(sources, rows)
    assert diagnoses == {}
    assert notes == ["No probe twin figure for `m (x) [vlm4d_probe_mc]`: its probe folder was "
                     "not found; fix: pass the probe folder of `vlm4d generate-probe` with "
                     "--probe DIR."]  # fmt: skip
    diagnoses, notes = lb.probe_diagnoses(sources, rows, [folder])
    assert list(diagnoses) == ["m (x) [vlm4d_probe_mc]"] and notes == []

    # Another probe set (another seed): its questions are not the ones answered.
    from vlm4d_tasks.probe.generate import ProbeSettings, plan_probe, write_annotations

    other = tmp_path / "other"
    other.mkdir()
    write_annotations(plan_probe(ProbeSettings(n_scenes=8, seed=4)), other)
    diagnoses, notes = lb.probe_diagnoses(sources, rows, [other])
    assert diagnoses == {} and len(notes) == 1
    assert f"`m (x) [vlm4d_probe_mc]`: {other}: it" in notes[0]

    # A folder that is no probe set is bad input: exit status 2 before any work.
    done = vlm4d("report", score, "--out", tmp_path / "r", "--probe", tmp_path, "--no-progress")
    assert done.returncode == 2
    assert f"vlm4d report: error: {tmp_path}: not a probe set" in done.stderr
    assert not (tmp_path / "r" / "report.md").exists()
    done = vlm4d("report", score, "--out", tmp_path / "r", "--probe", folder, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r" / "probe_twins.png").is_file()
