"""Protocols as data (issue 27): the declarations, `vlm4d protocols`, the DSR Suite prompt and
its regex scorer.

Pure tests, no model, no network. The DSR Suite prompt below is rebuilt the way its script
builds it (github.com/TencentARC/DSR_Suite, commit ae81203, model/qwen_test_vlm4d_baseline.py
lines 56-58), on entries in the release's raw format.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The five models the official scripts decode greedily (model_inference/internvideo.py,
# internvideo2_5.py, videollama3.py, phi4mm.py), as issue 27 lists them.
GREEDY_OFFICIAL = {
    "InternVideo2-Chat-8B_1fps",
    "InternVideo2_5_Chat_8B_1fps",
    "VideoLLaMA3-2B_1fps",
    "VideoLLaMA3-7B_1fps",
    "Phi-4-multimodal-instruct_16frame",
}


def _decls():
    from vlm4d_tasks.lmms.protocol_declarations import declarations

    return declarations()


def _published_models() -> set[str]:
    doc = json.loads((ROOT / "vlm4d_tasks/report/published.json").read_text("utf-8"))
    (table,) = [t for t in doc["tables"] if t["id"] == "official_cot"]
    return {row["model"] for row in table["rows"]}


# --------------------------------------------------------------------------------------------
# The declarations


def test_the_protocols_are_declared_with_every_section_and_decoding_key():
    from vlm4d_tasks.lmms.protocol_declarations import DECODING_KEYS, SECTIONS, declaration

    decls = _decls()
    assert {"default", "official", "dsr-suite", "vlmevalkit-dsrbench"} <= set(decls)
    for decl in decls.values():
        for section in SECTIONS:
            if section == "resolution" and decl.resolution["max_pixels"] is None:
                continue  # not set by the protocol: nothing to cite
            assert getattr(decl, section)["sources"], (decl.name, section)
        assert set(DECODING_KEYS) <= set(decl.decoding)
    assert declaration("greedy") == decls["default"]


def test_default_and_official_declarations_say_what_the_tasks_pass():
    """The declaration and the task YAMLs' generation kwargs (PROTOCOLS) must not drift."""
    from vlm4d_tasks.lmms.protocol import OFFICIAL_SEED, PROTOCOLS

    for name, code_name in (("default", "greedy"), ("official", "official")):
        decoding = _decls()[name].decoding
        kwargs = PROTOCOLS[code_name].generation_kwargs
        for key in ("do_sample", "temperature", "max_new_tokens"):
            assert decoding[key] == kwargs[key], (name, key)
    assert _decls()["official"].decoding["seed"] == OFFICIAL_SEED


def test_official_has_the_settings_of_every_published_model_with_their_sources():
    official = _decls()["official"]
    assert set(official.models) == _published_models()
    assert len(official.models) == 23
    for key, settings in official.models.items():
        for section in ("frames", "decoding"):
            for source in settings[section]["sources"]:
                assert source["repo"] == "ShijieZhou-UCLA/VLM4D", key
                assert source["line"] >= 1 and source["quote"], (key, section)
    greedy = {k for k, s in official.models.items() if s["decoding"]["do_sample"] is False}
    assert greedy == GREEDY_OFFICIAL
    models = official.models
    assert models["InternVideo2-Chat-8B_1fps"]["frames"] | {"sources": 0} == {
        "rule": "segments", "count": 16, "sources": 0,
        "note": models["InternVideo2-Chat-8B_1fps"]["frames"]["note"],
    }  # fmt: skip
    assert models["InternVideo2_5_Chat_8B_1fps"]["frames"]["count"] == 128
    for size in ("2B", "7B"):
        llama3 = models[f"VideoLLaMA3-{size}_1fps"]
        assert (llama3["frames"]["fps"], llama3["frames"]["max_frames"]) == (1, 180)
        assert llama3["decoding"]["max_new_tokens"] == 2048
    assert models["Phi-4-multimodal-instruct_16frame"]["decoding"]["max_new_tokens"] == 1000
    # the others: the file name's frame setting, temperature 1.0 sampling with 1024 tokens
    # (Gemini: the API's defaults, Claude: its default temperature; both say so)
    for key in set(models) - GREEDY_OFFICIAL:
        decoding = models[key]["decoding"]
        assert decoding["do_sample"] in (True, None), key
        assert decoding["max_new_tokens"] in (1024, None), key
        assert decoding["temperature"] in (1.0, None), key
        if decoding["temperature"] is None:
            assert "default" in decoding["note"], key
        frames = models[key]["frames"]
        if key.endswith("frame"):
            assert frames == frames | {"rule": "uniform", "count": int(key.rsplit("_")[-1][:-5])}
        elif frames["rule"] != "video_file":
            assert (frames["rule"], frames["fps"], frames["max_frames"]) == ("fps", 1, 64), key


def test_sources_in_this_repository_quote_the_line_they_cite():
    """A cited line of our own files must still hold the setting it is cited for."""
    checked = 0
    for decl in _decls().values():
        for section in ("prompt", "frames", "resolution", "decoding", "scorer"):
            for source in getattr(decl, section)["sources"]:
                if source["repo"] != "vlm4d-tasks":
                    continue
                lines = (ROOT / source["file"]).read_text("utf-8").splitlines()
                assert lines[source["line"] - 1].strip() == source["quote"], source
                checked += 1
    assert checked >= 5


def test_model_names_map_to_their_official_settings_exactly():
    official = _decls()["official"]
    assert (
        official.model_settings("Qwen/Qwen2.5-VL-7B-Instruct")[0] == "Qwen2.5-VL-7B-Instruct_1fps"
    )
    assert official.model_settings("/models/qwen2.5-vl-72b-instruct/")[0] == (
        "Qwen2.5-VL-72B-Instruct_1fps"
    )
    assert official.model_settings("OpenGVLab/InternVideo2-Chat-8B")[0] == (
        "InternVideo2-Chat-8B_1fps"
    )
    assert official.model_settings("gpt-4o_32frame.json")[0] == "gpt-4o_32frame"
    assert official.model_settings("Qwen2.5-VL-7B") is None
    assert official.model_settings(None) is None
    applied = official.applied("DAMO-NLP-SG/VideoLLaMA3-7B")
    assert applied["model_settings"] == "VideoLLaMA3-7B_1fps"
    assert applied["decoding"]["do_sample"] is False and "sources" not in applied["decoding"]
    assert official.applied("my-model")["decoding"]["temperature"] == 1.0


def _write_protocols(tmp_path: Path, doc) -> Path:
    path = tmp_path / "protocols.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_loader_names_the_file_protocol_and_field_of_a_bad_declaration(tmp_path):
    from vlm4d_tasks.lmms.protocol_declarations import DeclarationError, load_declarations

    shipped = json.loads((ROOT / "vlm4d_tasks/lmms/protocols.json").read_text("utf-8"))
    assert set(load_declarations(_write_protocols(tmp_path, shipped))) == set(_decls())

    del shipped["protocols"]["dsr-suite"]["decoding"]["top_k"]
    with pytest.raises(DeclarationError) as err:
        load_declarations(_write_protocols(tmp_path, shipped))
    assert str(tmp_path / "protocols.json") in str(err.value)
    assert "'dsr-suite' decoding" in str(err.value) and "top_k" in str(err.value)

    shipped["protocols"]["dsr-suite"]["decoding"]["top_k"] = 5
    shipped["protocols"]["official"]["models"]["gpt-4o_32frame"]["frames"]["sources"][0]["line"] = 0
    with pytest.raises(DeclarationError, match=r"model 'gpt-4o_32frame' frames.sources\[0\]"):
        load_declarations(_write_protocols(tmp_path, shipped))

    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(DeclarationError, match="broken.json: not JSON"):
        load_declarations(tmp_path / "broken.json")


def test_loader_refuses_a_fifo_at_once(tmp_path):
    from vlm4d_tasks.data.files import InputFileError
    from vlm4d_tasks.lmms.protocol_declarations import load_declarations

    fifo = tmp_path / "protocols.json"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError):
        load_declarations(fifo)


# --------------------------------------------------------------------------------------------
# The DSR Suite prompt, byte for byte


def _dsr_script_prompt(qa: dict) -> str:
    # model/qwen_test_vlm4d_baseline.py lines 56-58, verbatim:
    #     question = qa['question']
    #     question += ". Choose the closest answer from the following 4 candidates and only
    #                   output your choice as one of A,B,C,D: "
    #     question += "A: {}; B: {}; C: {}; D: {}".format(qa['choices']["A"],qa['choices']["B"],
    #                                                     qa['choices']["C"],qa['choices']["D"])
    question = qa["question"]
    question += ". Choose the closest answer from the following 4 candidates and only output your choice as one of A,B,C,D: "  # noqa: E501
    question += "A: {}; B: {}; C: {}; D: {}".format(  # noqa: UP032 - the script's own call
        qa["choices"]["A"], qa["choices"]["B"], qa["choices"]["C"], qa["choices"]["D"]
    )
    return question


DSR_ENTRIES = [
    {  # counting: integer choices, as in real_mc.json
        "id": "validation_3",
        "video": "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/videos_real/davis/baseball.mp4",
        "question_type": "multiple-choice",
        "question": "How many times does the batter hit the ball to the left?",
        "choices": {"A": 0, "B": 1, "C": 2, "D": 3},
        "answer": 1,
    },
    {  # an option with the release's trailing space, and braces in the question
        "id": "validation_7",
        "video": "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/videos_real/davis/car.mp4",
        "question_type": "multiple-choice",
        "question": "From the camera's {own} perspective, which way is the car turning",
        "choices": {"A": "left", "B": "above ", "C": "right", "D": "not turning"},
        "answer": "right",
    },
]


@pytest.mark.parametrize("entry", DSR_ENTRIES, ids=lambda e: e["id"])
def test_dsr_suite_prompt_is_byte_identical_to_the_scripts(entry):
    from vlm4d_tasks.data.annotations import normalize_entry
    from vlm4d_tasks.data.schema import Subset

    record, problems = normalize_entry(entry, Subset.REAL)
    assert problems == []
    expected = _dsr_script_prompt(entry)
    decl = _decls()["dsr-suite"]
    assert decl.render_prompt(record) == expected
    assert decl.render_prompt(record.to_dict()) == expected
    assert expected.encode("utf-8") == decl.render_prompt(record).encode("utf-8")


def test_prompts_of_task_template_protocols_are_not_rendered_here():
    from vlm4d_tasks.data.annotations import normalize_entry
    from vlm4d_tasks.data.schema import Subset

    record, _ = normalize_entry(DSR_ENTRIES[0], Subset.REAL)
    with pytest.raises(ValueError, match="prompt_official_cot.jinja"):
        _decls()["official"].render_prompt(record)


# --------------------------------------------------------------------------------------------
# The DSR Suite regex scorer

# (answer, the script's choice (what it compares with the gold letter), rule)
DSR_READINGS = [
    ("B", "B", "whole answer"),  # the 20-token answer the prompt asks for
    ("  C\n", "C", "whole answer"),
    ("(a) the car turns left", "A", "pattern 1"),
    ("Ans='C'", "C", "pattern 2"),
    ("answer: d", "D", "pattern 3"),  # IGNORECASE, upper-cased
    ("Option B", "B", "pattern 4"),
    ("I think A is correct", "A", "pattern 5"),
    ("The answer is D.", "D", "pattern 6"),
    ("C) left", "C) left", "whole answer"),  # pattern 6 needs the end of the line
    ("The answer is E.", "E", "pattern 6"),  # E matches, and is never an option
    ("left", "left", "whole answer"),
    ("", "", "whole answer"),
]


@pytest.mark.parametrize(("answer", "choice", "rule"), DSR_READINGS)
def test_dsr_reader_takes_what_the_script_takes(answer, choice, rule):
    from vlm4d_tasks.metric.dsr_scorer import read_answer

    reading = read_answer(answer)
    assert (reading.choice, reading.rule) == (choice, rule)
    assert reading.letter == (choice if choice in ("A", "B", "C", "D") else None)


def test_dsr_score_is_the_scripts_comparison_with_the_gold_letter():
    from vlm4d_tasks.metric.dsr_scorer import score

    assert score("B", "B") and not score("B", "C")
    # the script's first matching pattern wins, even over a later, clearer statement
    assert score("(a) is ruled out. Answer: C", "A") and not score(
        "(a) is ruled out. Answer: C", "C"
    )
    assert not score("b", "B")  # no pattern matches a bare lower-case letter
    assert not score(None, "A")


def test_dsr_reader_is_linear_on_hostile_answers():
    from vlm4d_tasks.metric.dsr_scorer import read_answer

    hostile = [
        "Ans " * 100_000 + "x",
        ("A." + " " * 50 + "x") * 20_000,
        "A " * 200_000,
        "(" * 300_000,
    ]
    start = time.perf_counter()
    for text in hostile:
        read_answer(text)
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------------------------
# `vlm4d protocols`


def test_cli_lists_one_line_per_protocol_and_prints_json_deterministically(capsys):
    from vlm4d_tasks.cli import main

    assert main(["protocols"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0].split(" ")[0] for line in lines] == [
        "default",
        "dsr-suite",
        "official",
        "vlmevalkit-dsrbench",
    ]
    assert "23 per-model settings" in lines[2]

    assert main(["protocols", "--json"]) == 0
    first = capsys.readouterr().out
    assert main(["protocols", "--json"]) == 0
    assert capsys.readouterr().out == first
    doc = json.loads(first)
    assert json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == first
    assert set(doc["official"]["models"]) == _published_models()
    assert doc["dsr-suite"]["decoding"] | {"sources": []} == {
        "do_sample": True, "temperature": 0.4, "top_p": 0.9, "top_k": 5,
        "max_new_tokens": 20, "seed": None, "sources": [],
    }  # fmt: skip
    assert doc["dsr-suite"]["resolution"]["max_pixels"] == 360 * 640
    assert doc["dsr-suite"]["frames"]["max_frames"] == 32

    assert main(["protocols", "greedy", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["default"]


def test_cli_unknown_protocol_exits_2_with_the_fix(capsys):
    from vlm4d_tasks.cli import main

    assert main(["protocols", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown protocol 'nope'" in err
    assert err.splitlines()[-1].startswith("fix:")


# --------------------------------------------------------------------------------------------
# `vlm4d score --judge dsr-suite`: the same answers read both ways


def test_score_reads_the_same_answers_as_dsr_suite_and_as_our_rule(annotations_dir, tmp_path):
    from _annotation_fixtures import REAL

    from vlm4d_tasks.cli import main

    def letter(q):
        return next(k for k, v in q["choices"].items() if v == q["answer"])

    q = REAL[:4]
    wrong = next(k for k in "ABCD" if k != letter(q[3]))
    answers = [
        letter(q[0]),  # both read it, right
        f"Let me think. Therefore, the final answer is: {letter(q[1])}",  # ours only
        f"Answer: {letter(q[2])}",  # both read it, right
        f"({wrong}) is what I first thought, but the final answer is {letter(q[3])}",
    ]
    responses = [{**e, "response": a} for e, a in zip(q, answers, strict=True)]
    file = tmp_path / "responses" / "real_mc_cot" / "modelx.json"
    file.parent.mkdir(parents=True)
    file.write_text(json.dumps(responses), encoding="utf-8")
    counts = {}
    for mode in ("rule", "dsr-suite"):
        out = tmp_path / f"{mode}.json"
        code = main(["score", str(file), "--annotations", str(annotations_dir), "--json",
                     str(out), "--judge", mode, "--no-progress"])  # fmt: skip
        assert code == 0
        doc = json.loads(out.read_text("utf-8"))
        (run,) = doc["runs"]
        assert doc["judge"]["mode"] == mode
        counts[mode] = (run["n"], run["correct"], run["no_valid_answer"])
    assert counts["rule"] == (4, 4, 0)
    # DSR Suite's reader: answer 2 has no pattern (no valid answer), answer 4 its first "(X)"
    assert counts["dsr-suite"] == (4, 2, 1)
    # its Markdown is a rule reading's: no LLM, nothing sent
    from vlm4d_tasks.report.score_report import markdown_report

    text = markdown_report(json.loads((tmp_path / "dsr-suite.json").read_text("utf-8")))
    assert "no LLM" in text and "sent to LLM" not in text


# --------------------------------------------------------------------------------------------
# A run's metadata: the declaration that applies to its model, and where the run differs


def test_run_metadata_names_the_official_settings_of_a_mapped_model(monkeypatch):
    import argparse

    from vlm4d_tasks.lmms import run as lmms_run
    from vlm4d_tasks.lmms.protocol_run import markdown_line

    monkeypatch.delenv("VLM4D_JUDGE", raising=False)
    args = argparse.Namespace(
        model="videollama3", model_args="pretrained=DAMO-NLP-SG/VideoLLaMA3-7B,max_num_frames=180",
        gen_kwargs="", seed=[215, 215, 215, 215], limit=None, output_path=None,
    )  # fmt: skip
    run = lmms_run.current_run(args)
    run.rows["vlm4d_mc_official"] = {}
    protocol = run.metadata()["protocol"]
    declared = protocol["declared"]["official"]
    assert declared["model_settings"] == "VideoLLaMA3-7B_1fps"
    assert (declared["frames"]["rule"], declared["frames"]["fps"]) == ("model_fps", 1)
    assert declared["decoding"]["max_new_tokens"] == 2048
    # the tasks sampled with 1024 tokens; the official script decoded it greedily with 2048
    assert declared["differs"] == {
        "do_sample": {"run": True, "declared": False},
        "max_new_tokens": {"run": 1024, "declared": 2048},
    }
    assert "decoded `VideoLLaMA3-7B_1fps` otherwise than this run: do_sample true (script " in (
        markdown_line(protocol)
    )


def test_run_metadata_without_differences_for_a_sampled_official_model():
    from vlm4d_tasks.lmms.protocol_run import describe_run, markdown_line

    block = describe_run(["vlm4d_mc_official"], "", 215, "pretrained=OpenGVLab/InternVL2_5-8B")
    assert block["declared"]["official"]["model_settings"] == "InternVL2_5-8B_4frame"
    assert block["declared"]["official"]["differs"] == {}
    assert "otherwise than this run" not in markdown_line(block)
    # the greedy override the official script used for InternVideo2.5 clears the difference
    greedy = "do_sample=False,temperature=0,max_new_tokens=1024"
    block = describe_run(
        ["vlm4d_mc_official"], greedy, 215, "pretrained=OpenGVLab/InternVideo2_5_Chat_8B"
    )
    assert block["declared"]["official"]["differs"] == {}
    block = describe_run(["vlm4d_mc"], "", 0, "pretrained=unknown/model")
    assert block["declared"]["greedy"]["model_settings"] is None
    assert block["declared"]["greedy"]["name"] == "default"


# --------------------------------------------------------------------------------------------
# `vlm4d eval --protocol official` applies a mapped model's own decoding


@pytest.mark.parametrize(
    ("pretrained", "added"),
    [
        ("DAMO-NLP-SG/VideoLLaMA3-7B", "do_sample=False,temperature=0,max_new_tokens=2048"),
        (
            "microsoft/Phi-4-multimodal-instruct",
            "do_sample=False,temperature=0,max_new_tokens=1000",
        ),
        ("OpenGVLab/InternVideo2_5_Chat_8B", "do_sample=False,temperature=0"),
        ("Qwen/Qwen2.5-VL-7B-Instruct", None),  # sampled at 1.0 with 1024 tokens, as the tasks
        ("my-org/my-model", None),  # not a published model: the protocol's own settings
    ],
)
def test_eval_official_applies_the_models_own_decoding(pretrained, added):
    """Issue 27: the five models the official scripts decode otherwise get that decoding, and
    the run's metadata then finds nothing that differs from the script."""
    from vlm4d_tasks.cli.eval import apply_protocol
    from vlm4d_tasks.lmms.protocol_run import describe_run

    args = ["--model", "hf", "--model_args", f"pretrained={pretrained}", "--tasks", "vlm4d_mc"]
    out = apply_protocol(args, "official")
    gen = out[out.index("--gen_kwargs") + 1] if "--gen_kwargs" in out else None
    assert gen == added
    block = describe_run(["vlm4d_mc_official"], gen or "", 215, f"pretrained={pretrained}")
    assert block["declared"]["official"]["differs"] == {}


def test_eval_official_keeps_the_users_own_decoding():
    from vlm4d_tasks.cli.eval import apply_protocol

    args = ["--model", "hf", "--model_args", "pretrained=DAMO-NLP-SG/VideoLLaMA3-7B",
            "--gen_kwargs", "max_new_tokens=64", "--tasks", "vlm4d_mc"]  # fmt: skip
    out = apply_protocol(args, "official")
    assert out[out.index("--gen_kwargs") + 1] == "max_new_tokens=64,do_sample=False,temperature=0"
    assert apply_protocol(args, "greedy") == args  # only the official protocol maps models
