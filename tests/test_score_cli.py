"""`vlm4d score` and `vlm4d report` end to end, in a subprocess, on files written here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _judge_server import ScriptedChatServer

pytestmark = pytest.mark.subprocess

HUB = "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/"
MOVE = ["left", "right", "not moving", "up"]
FLY = ["left", "right", "no dragon there", "up"]


def question(qid, video, text, choices, answer):
    return {"id": qid, "video": HUB + video, "question_type": "multiple-choice",
            "question": text, "choices": dict(zip("ABCD", choices)), "answer": answer}  # fmt: skip


ANNOTATIONS = {
    "real_mc.json": [
        question("validation_1", "videos_real/davis/a.mp4", "Where does the tram go?", MOVE,
                 "left"),
        question("validation_2", "videos_real/davis/b.mp4", "Where does the dog go?", MOVE,
                 "right"),
        question("validation_923", "videos_real/ego4d/c.mp4", "Where does the cup go?", MOVE,
                 "not moving"),
        question("validation_924", "videos_real/ego4d/d.mp4", "Where does the hand go?", MOVE,
                 "up"),
    ],
    "synthetic_mc.json": [
        question("validation_1", "videos_synthetic/e.mp4", "Where does the robot walk?", FLY,
                 "left"),
        question("validation_2", "videos_synthetic/f.mp4", "Where is the dragon flying?", FLY,
                 "no dragon there"),
        question("validation_3", "videos_synthetic/g.mp4", "Where does the cart roll?", FLY,
                 "right"),
    ],
}  # fmt: skip

# (id, response, reference label): real answers A, C, C, D against truths A, B, C, D.
REAL_ANSWERS = [
    ("validation_1", "The tram leaves to the left. Final Answer: A", True),
    ("validation_2", "Final Answer: C", False),
    ("validation_923", "The cup stays put.\nFinal Answer: C", True),
    ("validation_924", "Final Answer: D", False),  # a deliberately wrong reference label
]
SYN_ANSWERS = [
    ("validation_1", "Final Answer: A"),
    ("validation_2", "No dragon is visible. Final Answer: C"),
    ("validation_3", "I cannot determine the direction from these frames."),  # no valid answer
]


def _dump(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    for name, entries in ANNOTATIONS.items():
        _dump(tmp_path / "annotations" / name, entries)
    real = {q["id"]: q for q in ANNOTATIONS["real_mc.json"]}
    syn = {q["id"]: q for q in ANNOTATIONS["synthetic_mc.json"]}
    judged = []
    for qid, response, correct in REAL_ANSWERS:
        q = real[qid]
        judged.append({"id": qid, "question": q["question"], "choices": q["choices"],
                       "response": response, "ground_truth_answer": q["answer"],
                       "extracted_answer": "see response", "correct": correct})  # fmt: skip
    _dump(tmp_path / "responses" / "real_mc_cot" / "modelx.json", judged)
    raw = [
        {"id": qid, "question": syn[qid]["question"], "choices": syn[qid]["choices"],
         "response": response, "answer": syn[qid]["answer"]}
        for qid, response in SYN_ANSWERS
    ]  # fmt: skip
    _dump(tmp_path / "responses" / "synthetic_mc_cot" / "modelx.json", raw)
    _dump(tmp_path / "responses" / "real_mc_cot" / "modely.json", judged[:2])
    return tmp_path


def vlm4d(*args, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vlm4d_tasks.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def _files(bench: Path) -> list[Path]:
    return sorted((bench / "responses").glob("*/*.json"))


def test_score_end_to_end_with_annotations(bench: Path):
    out = bench / "out"
    out.mkdir()
    args = ["score", *_files(bench), "--annotations", bench / "annotations", "--no-progress",
            "--json", out / "s.json", "--markdown", out / "s.md",
            "--plot", out / "s.png"]  # fmt: skip
    result = vlm4d(*args)
    assert result.returncode == 0, result.stderr
    score = json.loads((out / "s.json").read_text())

    runs = {(r["subset"], r["name"]): r for r in score["runs"]}
    assert sorted(runs) == [("real", "modelx"), ("real", "modely"), ("synthetic", "modelx")]
    real = runs["real", "modelx"]
    assert (real["n"], real["correct"], real["accuracy"]) == (4, 3, 0.75)
    assert real["by_perspective"]["egocentric"]["accuracy"] == 1.0
    assert real["by_perspective"]["exocentric"]["accuracy"] == 0.5
    assert (real["reference_accuracy"], real["agreement"]) == (0.5, 0.75)
    assert real["disagreement_ids"] == ["real/validation_924"]
    assert real["disagreements"][0]["ours"] == "D: up"
    assert real["stale"] == {
        "count": 0,
        "by_kind": {},
        "changed_meaning": 0,
        "excluded": False,
        "entries": [],
    }
    # 5 of the 6 labelled answers agree (modely's two do; modelx's validation_924 does not)
    assert score["summary"] == {
        "runs": 3, "n": 9, "no_valid_answer": 1, "unresolved": 0, "unresolved_causes": {},
        "ground_truth_unmatched": 0, "agreement": 0.833333,
        "stale": {"count": 0, "changed_meaning": 0, "by_kind": {}, "excluded": False},
        "agreement_n": 6, "agreement_min": {"run": "real/modelx (cot)", "agreement": 0.75},
    }  # fmt: skip
    assert real["variant"] == "cot" and real["model"] == "modelx (cot)"
    syn = runs["synthetic", "modelx"]
    assert (syn["n"], syn["correct"], syn["no_valid_answer"], syn["unresolved"]) == (3, 2, 1, 0)
    assert "reference_accuracy" not in syn  # raw output carries no labels
    assert syn["by_category"]["false_positive"]["accuracy"] == 1.0
    assert syn["grading"] == {"mode": "rule"}

    rows = {row["model"]: row["columns"] for row in score["models"]}
    assert list(rows) == ["modelx (cot)", "modely (cot)"]
    x = {name: col["accuracy"] for name, col in rows["modelx (cot)"].items()}
    assert x == {
        "real_egocentric": 1.0,
        "real_exocentric": 0.5,
        "real": 0.75,
        "synthetic_directional": 0.5,
        "synthetic_false_positive": 1.0,
        "synthetic": 0.666667,
        "overall": 0.714286,  # 5 of 7
    }
    assert set(rows["modely (cot)"]) == {"real_exocentric", "real", "overall"}
    lo, hi = rows["modelx (cot)"]["overall"]["ci95"]
    assert lo <= 0.714286 <= hi

    md = (out / "s.md").read_text()
    assert "| modelx (cot) | 100.0 | 50.0 | 75.0 | 50.0 | 100.0 | 66.7 | 71.4 |" in md
    assert "| modely (cot) | – | 50.0 | 50.0 | – | – | – | 50.0 |" in md
    assert md in result.stdout
    assert (out / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Deterministic: the same inputs give byte-identical outputs.
    again = bench / "again"
    again.mkdir()
    result = vlm4d(*[str(a).replace(str(out), str(again)) for a in args])
    assert result.returncode == 0, result.stderr
    for name in ("s.json", "s.md", "s.png"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name

    # `vlm4d report` renders the same Markdown and plot from the saved JSON.
    result = vlm4d("report", out / "s.json", "--markdown", out / "r.md", "--plot", out / "r.png")
    assert result.returncode == 0, result.stderr
    assert (out / "r.md").read_text() == md
    assert (out / "r.png").read_bytes() == (out / "s.png").read_bytes()


def test_score_without_annotations_uses_the_official_rules(bench: Path):
    out = bench / "plain.json"
    result = vlm4d("score", *_files(bench), "--json", out, "--no-progress")
    assert result.returncode == 0, result.stderr
    score = json.loads(out.read_text())
    x = {n: c["accuracy"] for n, c in score["models"][0]["columns"].items()}
    assert (x["real_egocentric"], x["real_exocentric"]) == (1.0, 0.5)  # id > 922 = egocentric
    assert x["synthetic_false_positive"] == 1.0  # answer starts with "no "
    assert x["overall"] == 0.714286
    assert "stale" not in score["runs"][0] and "stale" not in score["summary"]


def test_score_with_llm_judge_and_cache(bench: Path):
    env = {
        "VLM4D_JUDGE_MODEL": "local-judge",
        "VLM4D_CACHE_DIR": str(bench / "cache"),
        "OPENAI_API_KEY": "must-not-be-sent",
    }
    files = [
        bench / "responses" / f"{subset}_mc_cot" / "modelx.json" for subset in ("real", "synthetic")
    ]
    with ScriptedChatServer() as server:
        env["VLM4D_JUDGE_BASE_URL"] = server.url
        result = vlm4d("score", *files, "--judge", "llm", "--json", bench / "llm.json",
                       "--no-progress", env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert len(server.requests) == 7
        first_stdout = result.stdout
        assert all("Authorization" not in h for h in server.headers)
        server.reset()
        result = vlm4d("score", *files, "--judge", "llm", "--json", bench / "llm2.json",
                       "--no-progress", env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert server.requests == []  # everything from the cache
    first = json.loads((bench / "llm.json").read_text())
    second = json.loads((bench / "llm2.json").read_text())
    assert first["judge"] == {"mode": "llm", "models": ["local-judge"], "endpoints": [server.url],
                              "circuit_open": {}, "prompt": "vlm4d"}  # fmt: skip
    real = next(r for r in first["runs"] if r["subset"] == "real")
    judge = real["grading"]["judges"][0]
    assert (judge["requests"], judge["cached"], judge["unresolved"]) == (4, 0, 0)
    assert judge["tokens"] == {"prompt": 400, "completion": 80, "total": 480, "cached_total": 0}
    assert real["grading"]["sent_to_llm"] == 4
    assert real["accuracy"] == 0.75
    judge2 = next(r for r in second["runs"] if r["subset"] == "real")["grading"]["judges"][0]
    assert (judge2["requests"], judge2["cached"], judge2["tokens"]["cached_total"]) == (0, 4, 480)
    assert [r["accuracy"] for r in second["runs"]] == [r["accuracy"] for r in first["runs"]]
    assert first["summary"]["sent_to_llm"] == 7
    assert first["summary"]["judges"] == {
        "local-judge": {"answers": 7, "requests": 7, "cached": 0, "unresolved": 0,
                        "unresolved_causes": {}, "tokens": {"prompt": 700, "completion": 140, "total": 840,
                                   "cached_total": 0}},
    }  # fmt: skip
    assert "local-judge: 4 requests, 0 cached, 0 unresolved, 480 tokens" in first_stdout
    assert (
        "Judge `local-judge`: 7 answers sent to the LLM, 7 requests, 0 from the cache, "
        "0 unresolved, 840 tokens." in first_stdout
    )
    assert "local-judge: 0 requests, 4 cached, 0 unresolved, 0 tokens" in result.stdout


def test_score_errors_name_the_file(bench: Path):
    stray = _dump(bench / "elsewhere" / "m.json", [])
    result = vlm4d("score", stray, "--no-progress")
    assert result.returncode == 2
    assert str(stray) in result.stderr and "subset" in result.stderr
    result = vlm4d("score", *_files(bench), "--judge", "llm", "--no-progress",
                   env={"VLM4D_JUDGE_MODEL": ""})  # fmt: skip
    assert result.returncode == 2 and "VLM4D_JUDGE_MODEL" in result.stderr
    result = vlm4d("report", stray)
    assert result.returncode == 2 and "not a `vlm4d score` JSON" in result.stderr


def test_score_crosscheck_lists_judge_disagreements(bench: Path):
    from _judge_server import Action, answer_well, prompt_of

    def judge_b_abstains_on_the_tram(body, n):
        if body["model"] == "judge-b" and "tram" in prompt_of(body):
            return Action(content='{"extracted_answer": "No Valid Answer", "correct": false}')
        return answer_well(body, n)

    real = bench / "responses" / "real_mc_cot" / "modelx.json"
    with ScriptedChatServer(judge_b_abstains_on_the_tram) as server:
        result = vlm4d(
            "score", real, "--judge", "crosscheck", "--judge-model", "judge-a",
            "--judge-model-2", "judge-b", "--judge-base-url", server.url,
            "--judge-cache", bench / "c.sqlite", "--json", bench / "x.json", "--no-progress",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert sorted(b["model"] for b in server.requests) == ["judge-a"] * 4 + ["judge-b"] * 4
    [run] = json.loads((bench / "x.json").read_text())["runs"]
    assert run["accuracy"] == 0.75  # the first judge's verdicts are scored
    [dis] = run["grading"]["disagreements"]
    assert dis["id"] == "real/validation_1"
    assert dis["verdicts"] == [
        {"judge": "judge-a", "verdict": "A: left"},
        {"judge": "judge-b", "verdict": "No Valid Answer"},
    ]
    assert "judge disagreements 1" in result.stdout
