"""The `official` and `greedy` protocols: prompts byte for byte, decoding, frames, metadata.

Pure tests, no model. The official prompt text below is copied literally from the official
evaluation code (github.com/ShijieZhou-UCLA/VLM4D, `utils/constant.py`, MIT licence) and filled
the way its `utils/prepare_input.py` fills it; the task templates must give the same bytes.
"""

from __future__ import annotations

import argparse
from string import Template

import pytest

# utils/constant.py, verbatim (MIT licence, github.com/ShijieZhou-UCLA/VLM4D).
MULTI_CHOICE_COT_PROMPT = Template("""
Question: $question
$optionized_str

Answer the given multiple-choice question step by step. Begin by explaining your reasoning process clearly. In the last sentence of your response, you must conclude by stating the final answer using the following format: 'Therefore, the final answer is: $$LETTER' (without quotes), where $$LETTER must be only one of the options (A or B or C or D). Think step by step before answering.""")  # noqa: E501

MULTI_CHOICE_DO_PROMPT = Template("""
Question: $question
$optionized_str

Do not generate any intermediate reasoning process. Answer directly with the option letter from the given choices.
""")  # noqa: E501

# A counting question in the release's format: integer choices, as in real_mc.json.
COUNTING_ENTRY = {
    "id": "validation_3",
    "video": "https://huggingface.co/datasets/shijiezhou/VLM4D/resolve/main/videos_real/davis/baseball.mp4",
    "question_type": "multiple-choice",
    "question": "How many times does the batter hit the ball to the left?",
    "choices": {"A": 0, "B": 1, "C": 2, "D": 3},
    "answer": 1,
}


def _official(template: Template, entry: dict) -> str:
    """The official filling (utils/prepare_input.py): "key: value" lines joined by newlines."""
    optionized_str = "\n".join(f"{key}: {value}" for key, value in entry["choices"].items())
    return template.substitute(question=entry["question"], optionized_str=optionized_str)


def _record(entry: dict):
    from vlm4d_tasks.data.annotations import normalize_entry
    from vlm4d_tasks.data.schema import Subset

    record, problems = normalize_entry(entry, Subset.REAL)
    assert problems == []
    return record


# --------------------------------------------------------------------------------------------
# Prompts


def test_official_cot_prompt_is_byte_for_byte_the_official_one():
    from vlm4d_tasks.lmms.prompts import render_prompt
    from vlm4d_tasks.lmms.task import doc_to_text_official_cot

    record = _record(COUNTING_ENTRY)
    expected = _official(MULTI_CHOICE_COT_PROMPT, COUNTING_ENTRY)
    assert expected.startswith("\nQuestion: How many times") and "\nA: 0\nB: 1\n" in expected
    assert render_prompt(record, "official_cot") == expected
    # through the lmms-eval hook, on a dataset row, with and without lmms_eval_specific_kwargs
    row = record.to_dict()
    assert doc_to_text_official_cot(row) == expected
    assert doc_to_text_official_cot(row, {"pre_prompt": "", "post_prompt": ""}) == expected
    assert doc_to_text_official_cot(row, {"pre_prompt": "<v>"}) == "<v>" + expected


def test_official_direct_prompt_is_byte_for_byte_the_official_one():
    from vlm4d_tasks.lmms.prompts import render_prompt
    from vlm4d_tasks.lmms.task import doc_to_text_official_direct

    record = _record(COUNTING_ENTRY)
    expected = _official(MULTI_CHOICE_DO_PROMPT, COUNTING_ENTRY)
    assert expected.endswith("from the given choices.\n")  # the official trailing newline
    assert render_prompt(record, "official_direct") == expected
    assert doc_to_text_official_direct(record.to_dict(), None) == expected


def test_official_prompt_keeps_the_question_text_as_released():
    from vlm4d_tasks.lmms.prompts import render_prompt

    entry = {
        **COUNTING_ENTRY,
        "question": "Describe the head movement of the person throughout the video. ",
        "choices": {"A": "left", "B": "right", "C": "up", "D": "not moving"},
        "answer": "left",
    }
    expected = _official(MULTI_CHOICE_COT_PROMPT, entry)
    assert render_prompt(_record(entry), "official_cot") == expected


def test_official_prompt_keeps_option_text_as_released():
    from vlm4d_tasks.lmms.prompts import render_prompt

    entry = {**COUNTING_ENTRY, "choices": {"A": "below", "B": "above ", "C": "left", "D": "right"},
             "answer": "above "}  # fmt: skip
    expected = _official(MULTI_CHOICE_COT_PROMPT, entry)
    assert render_prompt(_record(entry), "official_cot") == expected


def test_greedy_prompts_are_unchanged_and_differ_from_the_official_ones():
    from vlm4d_tasks.lmms.prompts import render_prompt

    record = _record(COUNTING_ENTRY)
    cot = render_prompt(record, "cot")
    assert cot.startswith("Question: How many times") and not cot.endswith("\n")
    assert cot != render_prompt(record, "official_cot")
    assert render_prompt(record, "direct") != render_prompt(record, "official_direct")


# --------------------------------------------------------------------------------------------
# Protocols and task names


def test_protocol_decoding_values():
    from vlm4d_tasks.lmms.protocol import PROTOCOLS

    official = PROTOCOLS["official"]
    assert official.generation_kwargs == {
        "max_new_tokens": 1024, "temperature": 1.0, "do_sample": True, "top_p": 1.0, "until": [],
    }  # fmt: skip
    assert official.seed == 215
    assert official.prompts == {"cot": "official_cot", "direct": "official_direct"}
    greedy = PROTOCOLS["greedy"]
    assert greedy.generation_kwargs == {
        "max_new_tokens": 1024, "temperature": 0, "do_sample": False, "until": [],
    }  # fmt: skip
    assert greedy.seed is None


def test_task_names_per_protocol():
    from vlm4d_tasks.lmms.protocol import protocol_of, task_for

    assert task_for("vlm4d_mc", "official") == "vlm4d_mc_official"
    assert task_for("vlm4d_real_mc_frames", "official") == "vlm4d_real_mc_frames_official"
    assert task_for("vlm4d_mc_official", "official") == "vlm4d_mc_official"
    assert task_for("vlm4d_probe_mc", "official") == "vlm4d_probe_mc_official"
    assert protocol_of("vlm4d_probe_mc_official").name == "official"
    assert task_for("vlm4d_mc_direct", "greedy") == "vlm4d_mc_direct"
    assert protocol_of("vlm4d_mc_direct_official").name == "official"
    assert protocol_of("vlm4d_counting").name == "greedy"
    with pytest.raises(ValueError, match="vlm4d_counting has no official variant"):
        task_for("vlm4d_counting", "official")
    with pytest.raises(ValueError, match="vlm4d_mc_official is of the official protocol"):
        task_for("vlm4d_mc_official", "greedy")
    with pytest.raises(ValueError, match="unknown protocol"):
        task_for("vlm4d_mc", "sampled")


# --------------------------------------------------------------------------------------------
# Frame settings of the published files


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("gpt-4o_32frame.json", "uniform-32"),
        ("real_mc_cot/Qwen2.5-VL-7B-Instruct_1fps.json", "fps-1-64"),
        ("InternVideo2_5_Chat_8B_1fps.json", "fps-1-64"),
        ("Llama-4-Maverick-17B-128E-Instruct-FP8_10frame.json", "uniform-10"),
        ("claude-sonnet-4-20250514_20frame", "uniform-20"),
        ("InternVL2_5-8B_4frame.json", "uniform-4"),
        ("_16frame", "uniform-16"),
        ("8frame", "uniform-8"),
        ("1fps", "fps-1-64"),
        ("8", "uniform-8"),
        (12, "uniform-12"),
    ],
)
def test_published_suffixes_map_to_frame_policies(name, key):
    from vlm4d_tasks.lmms.protocol import frame_setting

    assert frame_setting(name).key == key


@pytest.mark.parametrize("name", ["", "0", "gpt-4o_0frame.json", "2fps", "abc", "-1", "uniform"])
def test_unknown_frame_settings_raise(name):
    from vlm4d_tasks.lmms.protocol import frame_setting

    with pytest.raises(ValueError, match="expected N, 'Nframe' or '1fps'"):
        frame_setting(name)


def test_fps_setting_is_the_official_reader():
    from vlm4d_tasks.lmms.protocol import frame_setting

    # video_to_ndarrays_fps(fps=1, max_frames=64): int(min(int(count / fps), 64)) frames
    policy = frame_setting("1fps")
    assert policy.indices(16, 8.0) == [0, 15]  # 2 s: 2 frames
    assert len(policy.indices(3000, 30.0)) == 64  # 100 s: capped at 64
    assert frame_setting("32frame").indices(100, 30.0)[:3] == [0, 3, 6]  # linspace, truncated


# --------------------------------------------------------------------------------------------
# What a run records


def test_describe_run_one_protocol():
    from vlm4d_tasks.lmms.protocol_run import describe_run, markdown_line

    block = describe_run(
        ["vlm4d_mc_official"], gen_kwargs="", seed=[215, 215, 215, 215],
        model_args="pretrained=Qwen/Qwen2.5-VL-7B-Instruct,fps=1,max_pixels=12845056",
    )  # fmt: skip
    assert block.pop("declared")["official"]["model_settings"] == "Qwen2.5-VL-7B-Instruct_1fps"
    assert block == {
        "name": "official",
        "rows": {"vlm4d_mc_official": "official"},
        "decoding": {"official": {"do_sample": True, "max_new_tokens": 1024,
                                  "temperature": 1.0, "top_p": 1.0, "until": []}},
        "gen_kwargs_override": {},
        "seed": {"lmms_eval": [215, 215, 215, 215], "generation": None},
        "model_frame_args": {"fps": 1},
    }  # fmt: skip
    line = markdown_line(block)
    assert line.startswith("Protocol: **official** (the official prompt wording byte for byte")
    assert "temperature 1.0" in line and "seed 215" in line
    assert line.endswith("Seeds: lmms-eval `--seed` [215, 215, 215, 215], backend not set.")


def test_describe_run_mixed_protocols_and_an_override():
    from vlm4d_tasks.lmms.protocol_run import describe_run, markdown_line

    block = describe_run(
        ["vlm4d_mc_official", "vlm4d_mc", "vlm4d_counting"], gen_kwargs="max_new_tokens=8,seed=215"
    )
    assert block["name"] == "mixed"
    assert block["rows"] == {"vlm4d_counting": "greedy", "vlm4d_mc": "greedy",
                             "vlm4d_mc_official": "official"}  # fmt: skip
    assert block["decoding"]["greedy"]["max_new_tokens"] == 8
    assert block["decoding"]["official"]["temperature"] == 1.0
    assert block["seed"]["generation"] == 215
    line = markdown_line(block)
    assert "`vlm4d_mc` greedy" in line and "`vlm4d_mc_official` official" in line
    assert "must not be ranked together" in line
    assert "Decoding overridden by `--gen_kwargs`: max_new_tokens=8, seed=215." in line


def test_run_metadata_records_protocol_decoding_and_frames(monkeypatch):
    from vlm4d_tasks.lmms import run as lmms_run

    monkeypatch.delenv("VLM4D_JUDGE", raising=False)
    args = argparse.Namespace(
        model="qwen2_5_vl", model_args="pretrained=Qwen/Qwen2.5-VL-7B-Instruct,max_num_frames=32",
        gen_kwargs="", seed=[215, 215, 215, 215], limit=None, output_path=None,
    )  # fmt: skip
    run = lmms_run.current_run(args)  # a new args namespace: a new run
    run.rows["vlm4d_mc_official"] = {}
    meta = run.metadata()
    protocol = meta["protocol"]
    assert protocol["name"] == "official"
    assert protocol["decoding"]["official"]["temperature"] == 1.0
    assert protocol["decoding"]["official"]["do_sample"] is True
    assert protocol["seed"]["lmms_eval"] == [215, 215, 215, 215]
    assert protocol["model_frame_args"] == {"max_num_frames": 32}
    assert meta["seed"] == [215, 215, 215, 215] and meta["model_args"] == args.model_args


# --------------------------------------------------------------------------------------------
# `vlm4d eval --protocol`


def test_eval_protocol_official_selects_the_official_tasks_and_seed():
    from vlm4d_tasks.cli.eval import apply_protocol

    base = ["--model", "qwen2_5_vl", "--tasks", "vlm4d_mc,vlm4d_real_mc_direct"]
    assert apply_protocol(base, "official") == [
        "--model", "qwen2_5_vl", "--tasks", "vlm4d_mc_official,vlm4d_real_mc_direct_official",
        "--seed", "215",
    ]  # fmt: skip
    assert apply_protocol(base, None) == base  # no --protocol: tasks run as named
    assert apply_protocol(base, "greedy") == base
    # a seed of the user's own is kept; `--tasks=` form; `--tasks list` runs nothing
    assert apply_protocol(["--tasks=vlm4d_mc", "--seed", "1"], "official") == [
        "--tasks=vlm4d_mc_official", "--seed", "1",
    ]  # fmt: skip
    assert apply_protocol(["--tasks", "list"], "official") == ["--tasks", "list", "--seed", "215"]
    # the probe set has its official variant (offline runs of the protocol); a category not
    assert apply_protocol(["--tasks", "vlm4d_probe_mc"], "official") == [
        "--tasks", "vlm4d_probe_mc_official", "--seed", "215",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="vlm4d_counting has no official variant"):
        apply_protocol(["--tasks", "vlm4d_counting"], "official")
    with pytest.raises(ValueError, match="of the official protocol, not greedy"):
        apply_protocol(["--tasks", "vlm4d_mc_official"], "greedy")


def test_eval_protocol_official_passes_the_seed_to_backends_that_take_one():
    from vlm4d_tasks.cli.eval import apply_protocol

    openai = apply_protocol(["--model", "openai", "--tasks", "vlm4d_mc"], "official")
    assert openai[-2:] == ["--gen_kwargs", "seed=215"]
    vllm = apply_protocol(
        ["--model", "vllm", "--gen_kwargs", "max_new_tokens=64", "--tasks", "vlm4d_mc"], "official"
    )
    assert vllm[vllm.index("--gen_kwargs") + 1] == "max_new_tokens=64,seed=215"
    own = apply_protocol(["--model=vllm", "--gen_kwargs=seed=7", "--tasks", "vlm4d_mc"], "official")
    assert "--gen_kwargs=seed=7" in own and own.count("--gen_kwargs") == 0
    # transformers' generate() would reject `seed`: HF model classes get only lmms-eval's --seed
    hf = apply_protocol(["--model", "qwen2_5_vl", "--tasks", "vlm4d_mc"], "official")
    assert "--gen_kwargs" not in hf


def test_eval_frames_option_takes_published_settings(capsys):
    from vlm4d_tasks.cli import main

    with pytest.raises(SystemExit):
        main(["eval", "--frames", "2fps", "--tasks", "list"])
    assert "frame setting '2fps'" in capsys.readouterr().err
