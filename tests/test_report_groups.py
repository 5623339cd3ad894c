"""`vlm4d report` ranks a row only among comparable rows (issue 27, "Comparability in the
report"): rows are grouped into leaderboards by (question set, protocol) from what the score
document records (`leaderboard.group_key`), each table ranked on its own, the shared figures
drawn from the main table's rows, and other papers' numbers shown apart, never ranked."""

from __future__ import annotations

import csv
import io
import sys

import pytest

from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.metric.scoring import Verdict
from vlm4d_tasks.pipeline import score as pipeline
from vlm4d_tasks.pipeline.rows import Source
from vlm4d_tasks.report import figures
from vlm4d_tasks.report import leaderboard as lb
from vlm4d_tasks.report import leaderboard_render as render

OPTIONS = ["left", "right", "not moving", "no cup there"]
# A benchmark of five questions stands for the release's 1816 (`release=` / `_release_counts`):
# real 1, 2 exocentric, 923 egocentric; synthetic 1 directional, 2 false positive.
BENCHMARK = ("real/validation_1", "real/validation_2", "real/validation_923",
             "synthetic/validation_1", "synthetic/validation_2")  # fmt: skip
RELEASE = {"real_egocentric": 1, "real_exocentric": 2, "real": 3, "synthetic_directional": 1,
           "synthetic_false_positive": 1, "synthetic": 2, "overall": 5}  # fmt: skip
PROBE = ("probe/twin_1", "probe/twin_2", "probe/twin_3")


def record(uid: str) -> Record:
    subset, qid = uid.split("/")
    fp = uid == "synthetic/validation_2"
    perspective = None
    if subset == "real":
        perspective = "egocentric" if qid == "validation_923" else "exocentric"
    answer = "D" if fp else "A"
    return Record(
        uid=uid, question_id=qid, subset=subset, source="davis" if subset == "real" else "cosmos",
        perspective=perspective, category="false_positive" if fp else "translational",
        question="Where does the cup go?", options=list(OPTIONS), answer=answer,
        answer_text=OPTIONS["ABCD".index(answer)], video=f"videos_{subset}/{qid}.mp4",
    )  # fmt: skip


def items(uids, right: int):
    """Scored items of `uids`: the first `right` answered right, the others wrong."""
    out = []
    for i, uid in enumerate(uids):
        rec = record(uid)
        letter = rec.answer if i < right else ("B" if rec.answer != "B" else "C")
        out.append(pipeline.scoring.join([Verdict.chosen(rec.uid, letter, "rule:t")], [rec])[0])
    return out


def response_document(models: dict[str, tuple], protocol: str | None = None) -> dict:
    """A `vlm4d score` document: model "name (cot)" -> (uids, right answers), one run per
    subset; `protocol` as `vlm4d score --protocol` declares it."""
    runs, rows = [], {}
    for model, (uids, right) in models.items():
        name = model.partition(" (")[0]
        done = items(uids, right)
        for subset in sorted({it.record.subset for it in done}):
            part = [it for it in done if it.record.subset == subset]
            runs.append(pipeline.run_entry(
                part, name=name, model=model, variant="cot", subset=subset, file=None,
                grading={"mode": "rule"}, resamples=50, seed=0,
            ))  # fmt: skip
        rows[model] = done
    document = pipeline.score_document(runs, rows, judge={"mode": "rule", "models": []},
                                       resamples=50, seed=0)  # fmt: skip
    if protocol is not None:
        document["produced_by"] = {"model": None, "protocol": protocol}
    return document


def lmms_document(label: str, task: str, uids, right: int, protocol: str = "greedy") -> dict:
    """An lmms-eval run's document: one table row `label [task]`, its protocol recorded."""
    runs, models = pipeline.rows_to_runs({task: items(uids, right)}, label, "rule",
                                         resamples=50, seed=0)  # fmt: skip
    meta = {"protocol": {"rows": {task: protocol}}, "model": label, "limit": None}
    return pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                   resamples=50, seed=0, run=meta, judge_batches=[])  # fmt: skip


def key(document: dict, model: str, **kwargs) -> lb.GroupKey:
    return lb.group_key(document, model, release=RELEASE, **kwargs)


@pytest.fixture
def small_release(monkeypatch):
    """The five-question benchmark as the release, for `build` and the figures."""
    monkeypatch.setattr(lb, "_release_counts", lambda: tuple(RELEASE.items()))


# --------------------------------------------------------------------------------------------
# The key, from what a document records


def test_the_key_reads_the_question_set_and_the_protocol_of_each_row():
    doc = response_document({"a (cot)": (BENCHMARK, 3), "b (cot)": (BENCHMARK[:3], 2),
                             "c (cot)": (BENCHMARK[:2] + BENCHMARK[3:], 1)})  # fmt: skip
    assert key(doc, "a (cot)") == lb.GroupKey("full", 5, lb.UNDECLARED)
    assert key(doc, "b (cot)") == lb.GroupKey("real", 3, lb.UNDECLARED)  # one subset, whole
    assert key(doc, "c (cot)") == lb.GroupKey("partial", 4, lb.UNDECLARED)  # a question short
    declared = response_document({"a (cot)": (BENCHMARK, 3)}, protocol="dsr-suite")
    assert key(declared, "a (cot)") == lb.GroupKey("full", 5, "dsr-suite")
    assert key(declared, "a (cot)").id == "full/5/dsr-suite"

    # lmms-eval rows: the task names the blind and transformed sets, the protocol is the run's
    assert key(lmms_document("m", "vlm4d_mc", BENCHMARK, 2), "m [vlm4d_mc]") == lb.GroupKey(
        "full", 5, "greedy")  # fmt: skip
    blind = lmms_document("m", "vlm4d_mc_blind", BENCHMARK, 4, protocol="official")
    assert key(blind, "m [vlm4d_mc_blind]") == lb.GroupKey("blind", 5, "official")
    mirror = lmms_document("m", "vlm4d_mc_mirror", BENCHMARK[:2], 1)
    assert key(mirror, "m [vlm4d_mc_mirror]").questions == "mirror"
    probe = lmms_document("m", "vlm4d_probe_mc", PROBE, 1)
    assert key(probe, "m [vlm4d_probe_mc]") == lb.GroupKey("probe", 3, "greedy")
    # an lmms-eval row whose run recorded no protocol for it: undeclared, its own group
    bare = lmms_document("m", "vlm4d_mc", BENCHMARK, 2)
    bare["run"]["protocol"] = None
    assert key(bare, "m [vlm4d_mc]") == lb.GroupKey("full", 5, lb.UNDECLARED)


def test_transformed_question_ids_and_the_debiased_set_are_their_own_sets():
    rotated = response_document({"a (cot)": (BENCHMARK[:2], 1)})
    for run in rotated["runs"]:  # circular's re-lettered questions (`transforms.variant_of`)
        for outcome in run["outcomes"]:
            outcome["id"] += "#rot1"
    assert key(rotated, "a (cot)").questions == "circular"

    kept = {"real": frozenset(BENCHMARK[:2]), "synthetic": frozenset(BENCHMARK[3:4])}
    doc = response_document({"d (cot)": (BENCHMARK[:2] + BENCHMARK[3:4], 2),
                             "e (cot)": (BENCHMARK[:1] + BENCHMARK[3:4], 2)})  # fmt: skip
    assert key(doc, "d (cot)", debiased=kept) == lb.GroupKey("debiased", 3, lb.UNDECLARED)
    assert key(doc, "e (cot)", debiased=kept).questions == "partial"  # not all of the set


def test_groups_are_ordered_full_first_then_by_size():
    full, greedy = lb.GroupKey("full", 5, lb.UNDECLARED), lb.GroupKey("full", 5, "greedy")
    probe, part = lb.GroupKey("probe", 44, "greedy"), lb.GroupKey("partial", 76, lb.UNDECLARED)
    keys = [probe, full, part, greedy, full]
    # two full groups: the one of more rows first
    assert lb.order_groups(keys) == [full, greedy, part, probe]


# --------------------------------------------------------------------------------------------
# The report: no rank across groups


def mixed_sources() -> list[Source]:
    """A full run (two models), a probe run and a blind run, as `make demo` mixes the judged
    responses' full runs with a probe run."""
    return [
        Source(
            "full.json", response_document({"a (cot)": (BENCHMARK, 3), "b (cot)": (BENCHMARK, 2)})
        ),  # fmt: skip
        Source("probe_vlm4d_score.json", lmms_document("p", "vlm4d_probe_mc", PROBE, 3)),
        Source("blind_vlm4d_score.json", lmms_document("z", "vlm4d_mc_blind", BENCHMARK, 5)),
    ]


def test_a_full_a_probe_and_a_blind_run_are_ranked_in_their_own_tables(small_release):
    sources = mixed_sources()
    board = lb.build(sources, resamples=50, literature={"rows": []})
    assert [(g.key.id, [(r.rank, r.label) for r in g.rows]) for g in board.groups] == [
        ("full/5/undeclared", [(1, "a (cot)"), (2, "b (cot)")]),
        ("blind/5/greedy", [(1, "z [vlm4d_mc_blind]")]),  # 100%: before, ranked #1 of all
        ("probe/3/greedy", [(1, "p [vlm4d_probe_mc]")]),
    ]  # fmt: skip
    assert [r.label for r in board.rows] == ["a (cot)", "b (cot)", "z [vlm4d_mc_blind]",
                                             "p [vlm4d_probe_mc]"]  # fmt: skip
    # the next-one-down comparisons stay within a table; the official leaderboard places
    # no blind row
    assert [(c.a, c.b) for c in board.comparisons] == [("a (cot)", "b (cot)")]
    assert "z [vlm4d_mc_blind]" not in {s.label for s in board.standings}

    text = render.report_markdown(board)
    board_text = text.split("## Leaderboard (measured here)")[1].split("### Baselines")[0]
    headings = [line for line in board_text.splitlines() if line.startswith("### ")]
    assert headings == [
        "### Full benchmark (both subsets, every question): 5 questions; protocol undeclared "
        "(not recorded in the score document: declare it with `vlm4d score --protocol`)",
        "### Blind task (no visual input): 5 questions; protocol `greedy`",
        "### Probe set (static/moving camera twins): 3 questions; protocol `greedy`",
    ]  # fmt: skip
    ranks = [line.split(" | ")[:2] for line in board_text.splitlines() if line.startswith("| ")
             and "`" in line]  # fmt: skip
    assert ranks == [["| 1", "`a (cot)`"], ["| 2", "`b (cot)`"], ["| 1", "`z [vlm4d_mc_blind]`"],
                     ["| 1", "`p [vlm4d_probe_mc]`"]]  # fmt: skip
    assert "**Each table is ranked on its own**" in board_text

    rows = list(csv.DictReader(io.StringIO(render.leaderboard_csv(board))))
    measured = [(r["rank"], r["model"], r["group"]) for r in rows if r["table"] == "measured"]
    assert measured == [("1", "a (cot)", "full/5/undeclared"), ("2", "b (cot)", "full/5/undeclared"),
                        ("1", "z [vlm4d_mc_blind]", "blind/5/greedy"),
                        ("1", "p [vlm4d_probe_mc]", "probe/3/greedy")]  # fmt: skip
    data = render.leaderboard_json(board)
    assert data["format_version"] == lb.LEADERBOARD_FORMAT_VERSION == 3
    assert [g["id"] for g in data["groups"]] == ["full/5/undeclared", "blind/5/greedy",
                                                 "probe/3/greedy"]  # fmt: skip
    assert [m["group"] for m in data["measured"]][2:] == ["blind/5/greedy", "probe/3/greedy"]


def test_the_shared_figures_keep_the_main_tables_rows_only(small_release, tmp_path):
    scores = [s.document for s in mixed_sources()]
    # the blind task's row is a `vlm4d_mc*` task: it used to be pooled into the chain of
    # thought matrix with the models that saw the video
    cot = next(g for g in figures.direction_groups(scores) if g.key == "cot")
    assert cot.models == ("a (cot)", "b (cot)")
    probe = next(g for g in figures.direction_groups(scores) if g.key == "probe")
    assert probe.models == ("p [vlm4d_probe_mc]",)  # the probe rows' own matrix
    [note] = [n for n in figures.figure_notes(scores) if "left out" in n]
    assert "`z [vlm4d_mc_blind]`" in note and "`p [vlm4d_probe_mc]`" in note
    assert "`a (cot)`" not in note and "Full benchmark" in note
    written = figures.write_figures(scores, tmp_path, progress=False)
    assert "accuracy_by_category.png" in [p.name for p in written]
    # one group only: no note
    assert not [n for n in figures.figure_notes(scores[:1]) if "left out" in n]


def test_an_undeclared_protocol_is_its_own_group(small_release):
    sources = [
        Source("declared.json", response_document({"a (cot)": (BENCHMARK, 2)}, "official")),
        Source("plain.json", response_document({"b (cot)": (BENCHMARK, 4)})),
    ]
    board = lb.build(sources, resamples=50, literature={"rows": []})
    assert [(g.key.id, [(r.rank, r.label) for r in g.rows]) for g in board.groups] == [
        ("full/5/official", [(1, "a (cot)")]), ("full/5/undeclared", [(1, "b (cot)")])]  # fmt: skip
    assert board.comparisons == []  # two tables: no next-one-down pair across them
    text = render.report_markdown(board)
    assert "### Full benchmark (both subsets, every question): 5 questions; protocol undeclared" \
        in text  # fmt: skip
    assert "| 1 | `a (cot)` |" in text and "| 1 | `b (cot)` |" in text


# --------------------------------------------------------------------------------------------
# Other papers' numbers: apart, unranked


LITERATURE = {
    "format": 1,
    "about": "Made up for the test.",
    "rows": [
        {
            "paper": "A Paper",
            "arxiv": "2501.00001",
            "table": "Table 9",
            "model": "M-7B",
            "setting": "zero-shot",
            "protocol": "32 frames, greedy",
            "numbers": {"overall": 43.1, "real": None, "vlm4d": 40.0},
            "quote": "M-7B 43.1",
        },
        {
            "paper": "A Paper",
            "arxiv": "2501.00001",
            "table": "Table 9",
            "model": "M-7B-FT",
            "setting": "fine-tuned",
            "protocol": "16 frames, T=0.4",
            "numbers": {"overall": 61.5},
            "quote": "M-7B-FT 61.5",
        },
    ],
    "read_without_usable_numbers": [{"arxiv": "2501.00002", "paper": "Other", "why": "no table"}],
}


def test_literature_rows_are_shown_apart_and_never_ranked(small_release):
    board = lb.build(mixed_sources()[:1], resamples=50, literature=LITERATURE)
    text = render.report_markdown(board)
    measured, _, rest = text.partition(
        "## Published elsewhere (quoted from the papers, not measured here)"
    )
    assert rest and "M-7B" not in measured
    assert "### A Paper (arXiv 2501\\.00001), Table 9" in rest
    # protocols differ within the table: one per row; numbers as quoted (a null one blank),
    # ours in the paper's order, then a paper's own column
    assert "| Model | Setting | Real Avg | Overall | vlm4d | Protocol |" in rest
    assert "| M-7B | zero-shot | – | 43.1 | 40.0 | 32 frames, greedy |" in rest
    assert "| M-7B-FT | fine-tuned | – | 61.5 | – | 16 frames, T=0.4 |" in rest
    assert "- Other (arXiv 2501\\.00002): no table" in rest
    assert "| # |" not in rest.split("## Paired comparisons")[0]

    rows = list(csv.DictReader(io.StringIO(render.leaderboard_csv(board))))
    lit = [r for r in rows if r["table"].startswith("literature:")]
    assert [(r["rank"], r["model"], r["overall_percent"], r["other_numbers"]) for r in lit] == [
        ("", "M-7B", "43.1", "vlm4d=40.0"), ("", "M-7B-FT", "61.5", "")]  # fmt: skip
    assert lit[0]["source"] == "A Paper, Table 9 (arXiv 2501.00001)"
    assert render.leaderboard_json(board)["literature"] == LITERATURE


def test_no_literature_module_renders_nothing(small_release, monkeypatch):
    monkeypatch.setitem(sys.modules, "vlm4d_tasks.report.literature", None)  # ImportError
    assert lb.load_literature_rows() is None
    board = lb.build(mixed_sources()[:1], resamples=50)
    assert board.literature is None
    assert "Published elsewhere" not in render.report_markdown(board)
    assert not [r for r in csv.DictReader(io.StringIO(render.leaderboard_csv(board)))
                if r["table"].startswith("literature:")]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Another benchmark's rows: DSR-Bench's breakdowns in its own tables (issue 29)


def dsr_document(tmp_path, label: str, task: str, skill: int) -> tuple[dict, list]:
    """An lmms-eval run's document over the DSR-Bench fixture's questions (read by
    `data.dsr_bench`, scored by the pipeline): every `skill`-th question answered right, the
    others wrong; with its scored items, to count the expected breakdowns from."""
    import _dsr_bench_fixture

    from vlm4d_tasks.data import dsr_bench

    bench = dsr_bench.load_dsr_bench(_dsr_bench_fixture.write_parquet(tmp_path / f"{task}.pq"))
    records = [Record.from_dict(r.to_dict()) for r in bench.records]
    verdicts = [
        Verdict.chosen(
            r.uid, r.answer if i % skill == 0 else "ABCD"[(r.answer_index + 1) % 4], "rule:t"
        )  # fmt: skip
        for i, r in enumerate(records)
    ]
    scored = pipeline.scoring.join(verdicts, records)
    runs, models = pipeline.rows_to_runs({task: scored}, label, "rule", resamples=50, seed=0)
    meta = {"protocol": {"rows": {task: "greedy"}}, "model": label, "limit": None}
    document = pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                       resamples=50, seed=0, run=meta, judge_batches=[])  # fmt: skip
    return document, scored


def _share(items, keep) -> str:
    chosen = [it for it in items if keep(it.record)]
    return f"{100 * sum(it.correct for it in chosen) / len(chosen):.1f}"


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_dsr_bench_rows_show_their_types_and_viewpoints_in_their_own_tables(
    small_release, tmp_path
):
    from vlm4d_tasks.data.dsr_bench import DsrType, split_type
    from vlm4d_tasks.report.breakdowns import dsr_type_titles

    vlm4d = mixed_sources()[0]
    documents = {"m": dsr_document(tmp_path, "m", "dsr_bench", 2),
                 "n": dsr_document(tmp_path, "n", "dsr_bench", 3)}  # fmt: skip
    sources = [vlm4d, *(Source(f"{k}_vlm4d_score.json", d) for k, (d, _) in documents.items())]
    board = lb.build(sources, resamples=50, literature={"rows": []})
    assert [g.key.id for g in board.groups] == ["full/5/undeclared", "dsr_bench/39/greedy"]
    text = render.report_markdown(board)

    leaderboard = text.split("## Leaderboard (measured here)")[1].split("## By category")[0]
    vlm4d_part, _, dsr_part = leaderboard.partition("### DSR-Bench (another benchmark's")
    dsr_lines = [x for x in dsr_part.splitlines() if x.startswith("| ")]
    assert _cells(dsr_lines[0]) == ["#", "Model", "Absolute", "Relative", "Overall",
                                    "Chance-corr.", "Questions", "Protocol"]  # fmt: skip
    by_type = text.split("### DSR-Bench by question type")[1].split("## Published rows")[0]
    type_lines = [x for x in by_type.splitlines() if x.startswith("| ")]
    assert _cells(type_lines[0]) == ["Model", *dsr_type_titles().values()]
    for model, (_, scored) in documents.items():
        label = f"{model} [dsr_bench]"
        line = _cells(next(x for x in dsr_lines if f"`{label}`" in x))
        views = [_share(scored, lambda r, v=v: split_type(DsrType(r.category))[0].value == v)
                 for v in ("absolute", "relative")]  # fmt: skip
        assert line[2:4] == views and line[4].startswith(_share(scored, bool) + " [")
        types = _cells(next(x for x in type_lines if f"`{label}`" in x))[1:]
        assert types == [f"{_share(scored, lambda r, t=t: r.category == t.value)} (n=3)"
                         for t in DsrType]  # fmt: skip
    # the VLM4D table keeps its columns and rows; the DSR one has no debiased column
    assert "Absolute" not in vlm4d_part and "dsr_bench" not in vlm4d_part
    assert "| Real Ego |" in vlm4d_part and "Debiased" not in dsr_lines[0]
    categories = text.split("## By category (measured here)")[1].split("### DSR-Bench by")[0]
    assert "`a (cot)`" in categories and "dsr_bench" not in categories
    assert not any(t in categories for t in dsr_type_titles().values())
    # no VLM4D-only note for the DSR rows: why a row has no debiased accuracy
    assert not [x for x in text.splitlines() if x.startswith("Debiased –") and "dsr_bench" in x]
    assert "**DSR-Bench** (DSR Suite, arXiv 2512.20557) is another benchmark" in text
    # without them, none of it: the VLM4D report stays as it was
    board = lb.build([vlm4d], resamples=50, literature={"rows": []})
    header = render.leaderboard_csv(board).splitlines()[0].split(",")
    assert header[-1] == "other_numbers" and not [h for h in header if h.startswith("dsr_")]
    assert "DSR-Bench" not in render.report_markdown(board)
    assert all("categories" not in g for g in render.leaderboard_json(board)["groups"])


def test_a_report_of_dsr_bench_rows_alone_has_no_vlm4d_table_note_or_figure(tmp_path):
    documents = [dsr_document(tmp_path, m, "dsr_bench", s)[0] for m, s in (("m", 2), ("n", 3))]
    sources = [Source(f"{i}_vlm4d_score.json", d) for i, d in enumerate(documents)]
    board = lb.build(sources, resamples=50, literature={"rows": []})
    text = render.report_markdown(board)
    for vlm4d_only in ("| Translational |", "Real Ego |", "pools every question of both subsets",
                       "Debiased –", "**Debiased** is", "### Baselines"):  # fmt: skip
        assert vlm4d_only not in text.split("## Published rows")[0], vlm4d_only
    assert "### DSR-Bench by question type" in text
    # The figures are VLM4D's: before, the DSR rows' option texts ("left to front") were read
    # as directions and drawn as a direction confusion matrix of their own
    assert figures.direction_groups(documents) == []
    assert figures.write_figures(documents, tmp_path / "png", progress=False) == []
    [note] = figures.figure_notes(documents)
    assert "the DSR-Bench rows are in none of them" in note and "`m [dsr_bench]`" in note

    rows = list(csv.DictReader(io.StringIO(render.leaderboard_csv(board))))
    measured = [r for r in rows if r["table"] == "measured"]
    assert [r["model"] for r in measured] == ["m [dsr_bench]", "n [dsr_bench]"]
    assert all(r["dsr_abs_dis_n"] == "3" and r["dsr_absolute_n"] == "18" for r in measured)
    assert {r["dsr_non_temp_percent"] for r in rows if r["table"] != "measured"} == {""}
    data = render.leaderboard_json(board)
    assert data["measured"][0]["debiased_status"].startswith("not applicable")
    assert list(data["measured"][0]["columns"]) == ["absolute", "relative", "overall"]


def test_one_scores_markdown_keeps_dsr_bench_rows_out_of_the_papers_table(tmp_path):
    """`vlm4d score --markdown` / an lmms-eval run's table, for a run of a VLM4D task and a
    DSR-Bench task: the DSR row is not a line of the paper's table (blanks there), it has
    its own with its viewpoints."""
    from vlm4d_tasks.data.dsr_bench import DsrType, split_type
    from vlm4d_tasks.report.score_report import markdown_report

    _, scored = dsr_document(tmp_path, "m", "dsr_bench", 2)
    runs, models = pipeline.rows_to_runs({"vlm4d_mc": items(BENCHMARK, 3), "dsr_bench": scored},
                                         "m", "rule", resamples=50, seed=0)  # fmt: skip
    meta = {"protocol": {"rows": {"vlm4d_mc": "greedy", "dsr_bench": "greedy"}}, "model": "m"}
    document = pipeline.score_document(runs, models, judge={"mode": "rule", "models": []},
                                       resamples=50, seed=0, run=meta, judge_batches=[])  # fmt: skip
    text = markdown_report(document)
    tables = [[_cells(x) for x in block.splitlines()] for block in text.split("\n\n")
              if block.startswith("| ")]  # fmt: skip
    paper, dsr = tables[:2]
    assert paper[0][1] == "Real Ego" and [row[0] for row in paper[2:]] == ["m [vlm4d_mc]"]
    assert dsr[0] == ["Model", "Absolute", "Relative", "Overall", "95% CI", "Chance-corr."]
    views = [_share(scored, lambda r, v=v: split_type(DsrType(r.category))[0].value == v)
             for v in ("absolute", "relative")]  # fmt: skip
    assert dsr[2][:4] == ["m [dsr_bench]", *views, _share(scored, bool)]
    # a document of DSR-Bench rows alone: no paper's table, nor its "both subsets"
    alone = markdown_report(dsr_document(tmp_path, "n", "dsr_bench", 3)[0])
    assert "Real Ego" not in alone and "both subsets" not in alone
    assert "| n [dsr_bench] |" in alone
