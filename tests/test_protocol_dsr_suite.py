"""The `dsr-suite` protocol as tasks, and what `vlm4d eval --protocol` applies (issue 27).

The task templates are made from the declaration (protocols.json) and must be what it makes;
the tasks load through lmms-eval's TaskManager with the declaration's decoding and prompt; each
answer is read by our extraction and by DSR Suite's reader; `vlm4d eval --protocol dsr-suite` /
`official` add the declared frames, pixel budget and (official) a published model's decoding
where lmms-eval takes them, and a run's metadata says what was applied and what was not, and why.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from _lmms_dataset import EGO_DOC

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "vlm4d_tasks" / "lmms" / "tasks"
DSR_TASKS = [
    "vlm4d_real_mc_dsr_suite", "vlm4d_synthetic_mc_dsr_suite", "vlm4d_real_mc_frames_dsr_suite",
    "vlm4d_synthetic_mc_frames_dsr_suite", "vlm4d_probe_mc_dsr_suite",
]  # fmt: skip
DSR_GROUPS = ["vlm4d_mc_dsr_suite", "vlm4d_mc_frames_dsr_suite"]


# --------------------------------------------------------------------------------------------
# The templates are the declaration's


def test_the_templates_on_disk_are_what_the_declaration_makes():
    from vlm4d_tasks.lmms.protocol_tasks import templates

    made = templates()
    assert sorted(made) == [
        "_dsr_suite_frames_template_yaml", "_dsr_suite_group_template_yaml",
        "_dsr_suite_template_yaml",
    ]  # fmt: skip
    for name, text in made.items():
        assert (TASKS / name).read_text("utf-8") == text, (
            f"{name} differs from protocols.json; fix: python -m vlm4d_tasks.lmms.protocol_tasks"
        )
    assert "  top_k: 5\n  do_sample: true\n  until: []\n" in made["_dsr_suite_template_yaml"]
    assert "    frames: 32\n" in made["_dsr_suite_frames_template_yaml"]


def test_a_changed_declaration_changes_the_templates(monkeypatch):
    """The decoding and frames come from the declaration, not from text written here."""
    from vlm4d_tasks.lmms import protocol_tasks
    from vlm4d_tasks.lmms.protocol_declarations import declaration

    decl = declaration("dsr-suite")
    changed = dataclasses.replace(
        decl,
        decoding={**decl.decoding, "top_k": 7, "temperature": 0.25},
        frames={**decl.frames, "max_frames": 12},
    )
    monkeypatch.setattr(protocol_tasks, "declaration", lambda name: changed)
    made = protocol_tasks.templates()
    assert "  temperature: 0.25\n" in made["_dsr_suite_template_yaml"]
    assert "  top_k: 7\n" in made["_dsr_suite_template_yaml"]
    assert "    frames: 12\n" in made["_dsr_suite_frames_template_yaml"]
    assert made != {n: (TASKS / n).read_text("utf-8") for n in made}


# --------------------------------------------------------------------------------------------
# Task names, prompt and the two readers


def test_task_names_under_dsr_suite():
    from vlm4d_tasks.lmms.protocol import get_protocol, protocol_of, task_for

    assert task_for("vlm4d_mc", "dsr-suite") == "vlm4d_mc_dsr_suite"
    # its one prompt asks for the letter: the direct tasks map to the same variant
    assert task_for("vlm4d_real_mc_direct", "dsr-suite") == "vlm4d_real_mc_dsr_suite"
    assert task_for("vlm4d_mc_frames", "dsr-suite") == "vlm4d_mc_frames_dsr_suite"
    assert task_for("vlm4d_probe_mc", "dsr-suite") == "vlm4d_probe_mc_dsr_suite"
    assert task_for("vlm4d_mc_dsr_suite", "dsr-suite") == "vlm4d_mc_dsr_suite"
    assert protocol_of("vlm4d_probe_mc_dsr_suite").name == "dsr-suite"
    assert get_protocol("dsr-suite").generation_kwargs == {
        "max_new_tokens": 20, "temperature": 0.4, "top_p": 0.9, "top_k": 5, "do_sample": True,
        "until": [],
    }  # fmt: skip
    with pytest.raises(ValueError, match="vlm4d_counting has no dsr-suite variant"):
        task_for("vlm4d_counting", "dsr-suite")
    with pytest.raises(ValueError, match="of the official protocol, not dsr-suite"):
        task_for("vlm4d_mc_official", "dsr-suite")
    with pytest.raises(ValueError, match="of the dsr-suite protocol, not greedy"):
        task_for("vlm4d_mc_dsr_suite", "greedy")


def test_prompt_is_the_scripts_with_the_models_pre_and_post_prompt():
    from vlm4d_tasks.lmms.task import doc_to_text_dsr_suite

    expected = (
        "What direction is the cup moving towards?. Choose the closest answer from the "
        "following 4 candidates and only output your choice as one of A,B,C,D: A: left; "
        "B: right; C: towards the camera; D: away from the camera"
    )
    assert doc_to_text_dsr_suite(EGO_DOC) == expected
    assert doc_to_text_dsr_suite(EGO_DOC, {"pre_prompt": "<v>", "post_prompt": None}) == (
        "<v>" + expected
    )


@pytest.mark.parametrize(
    ("response", "ours", "theirs"),
    [
        ("B", "B", True),  # both read it
        ("Therefore, the final answer is: B", "B", False),  # ours only (DSR: whole answer)
        ("(a) looked likely, but Answer: B", "B", False),  # DSR takes the first "(a)"
        ("Option B", "B", True),
    ],
)
def test_each_answer_is_read_by_both_readers(response, ours, theirs):
    from vlm4d_tasks.lmms.protocol_tasks import DSR_METRIC
    from vlm4d_tasks.lmms.task import (
        aggregate_accuracy,
        aggregate_dsr_suite_accuracy,
        process_results_mc_dsr_suite,
    )

    out = process_results_mc_dsr_suite(EGO_DOC, [response])
    item = out["accuracy"]
    assert item["row"] == "vlm4d_mc_dsr_suite"
    assert item["letter"] == ours
    assert item["dsr_suite"]["correct"] is theirs
    assert out[DSR_METRIC] is not item and out[DSR_METRIC]["dsr_suite"] == item["dsr_suite"]
    value = aggregate_dsr_suite_accuracy([out[DSR_METRIC]])
    assert (value.correct, value.scored) == (int(theirs), 1)
    assert out[DSR_METRIC]["score"] == int(theirs)
    assert float(aggregate_accuracy([item])) == 1.0


# --------------------------------------------------------------------------------------------
# The tasks through lmms-eval's TaskManager


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from _lmms_dataset import build

    return build(tmp_path_factory.mktemp("vlm4d_dsr"))


@pytest.mark.subprocess
def test_the_dsr_suite_tasks_load_with_the_declarations_prompt_and_decoding(
    task_manager, dataset, monkeypatch
):
    from vlm4d_tasks.lmms.metric import METRICS
    from vlm4d_tasks.lmms.protocol import generation_kwargs_of
    from vlm4d_tasks.lmms.protocol_declarations import declaration

    monkeypatch.setenv("VLM4D_DATASET", str(dataset))
    monkeypatch.delenv("VLM4D_FRAMES", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert set(DSR_TASKS) <= set(task_manager.all_subtasks)
    assert set(DSR_GROUPS) <= set(task_manager.all_groups)
    decl = declaration("dsr-suite")
    for name in DSR_TASKS:
        (task,) = task_manager.load_task_or_group(name).values()
        assert task.config.generation_kwargs == generation_kwargs_of(decl), name
        assert task.config.metadata["protocol"] == "dsr-suite"
        assert set(task.aggregation()) == {*METRICS, "dsr_suite_accuracy"}
        doc = task.test_docs()[0]
        assert task.doc_to_text(doc) == decl.render_prompt(doc), name
        frames = task.config.lmms_eval_specific_kwargs["default"].get("frames")
        assert frames == (decl.frames["max_frames"] if "_frames" in name else None), name


# --------------------------------------------------------------------------------------------
# `vlm4d eval --protocol`: the declared settings lmms-eval takes as arguments


def _arg(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_eval_dsr_suite_adds_frames_and_pixels_for_a_class_that_takes_them():
    from vlm4d_tasks.cli.eval import apply_protocol, protocol_frames

    base = ["--model", "qwen2_5_vl", "--model_args", "pretrained=Qwen/Qwen2.5-VL-7B-Instruct",
            "--tasks", "vlm4d_mc,vlm4d_mc_frames"]  # fmt: skip
    out = apply_protocol(base, "dsr-suite")
    assert _arg(out, "--tasks") == "vlm4d_mc_dsr_suite,vlm4d_mc_frames_dsr_suite"
    assert _arg(out, "--model_args") == (
        "pretrained=Qwen/Qwen2.5-VL-7B-Instruct,max_num_frames=32,max_pixels=230400"
    )
    assert "--seed" not in out and "--gen_kwargs" not in out  # the decoding is the tasks'
    assert protocol_frames(out, "dsr-suite") == "32"
    # the user's own model arguments win; a class we know nothing of gets none
    own = apply_protocol([*base[:3], "pretrained=x,max_num_frames=8", *base[4:]], "dsr-suite")
    assert _arg(own, "--model_args") == "pretrained=x,max_num_frames=8,max_pixels=230400"
    other = apply_protocol(["--model", "hf", "--tasks", "vlm4d_mc"], "dsr-suite")
    assert "--model_args" not in other


@pytest.mark.parametrize(
    ("model_class", "model", "model_args", "frames_env"),
    [
        ("qwen2_5_vl", "Qwen/Qwen2.5-VL-7B-Instruct", "fps=1", "1fps"),
        ("internvideo2_5", "OpenGVLab/InternVideo2_5_Chat_8B", "max_frames_num=128", None),
        ("videollama3", "DAMO-NLP-SG/VideoLLaMA3-7B", "max_num_frames=180", None),
        ("llava_onevision", "gpt-4o", "max_frames_num=32", "32"),
        ("qwen2_5_vl", "my-org/my-model", None, None),  # not a published model
    ],
)
def test_eval_official_applies_a_mapped_models_frames(model_class, model, model_args, frames_env):
    from vlm4d_tasks.cli.eval import apply_protocol, protocol_frames

    base = ["--model", model_class, "--model_args", f"pretrained={model}"]
    video = apply_protocol([*base, "--tasks", "vlm4d_mc"], "official")
    added = _arg(video, "--model_args").removeprefix(f"pretrained={model}").lstrip(",")
    assert (added or None) == model_args
    frames = apply_protocol([*base, "--tasks", "vlm4d_mc_frames"], "official")
    assert _arg(frames, "--model_args") == f"pretrained={model}"  # frames tasks: a variable
    assert protocol_frames(frames, "official") == frames_env


def test_protocol_model_names_the_settings_for_another_checkpoint(capsys):
    from vlm4d_tasks.cli import main
    from vlm4d_tasks.cli.eval import apply_protocol, protocol_frames

    base = ["--model", "qwen2_5_vl", "--model_args", "pretrained=/ckpt/run-17",
            "--tasks", "vlm4d_mc,vlm4d_mc_frames"]  # fmt: skip
    assert _arg(apply_protocol(base, "official"), "--model_args") == "pretrained=/ckpt/run-17"
    out = apply_protocol(base, "official", "Qwen2.5-VL-7B-Instruct")
    assert _arg(out, "--model_args") == "pretrained=/ckpt/run-17,fps=1"
    assert protocol_frames(out, "official", "Qwen2.5-VL-7B-Instruct") == "1fps"
    # a name that is no published model, or no protocol to map it in: exit 2, the fix last
    for extra in (["--protocol", "official", "--protocol-model", "Qwen2.5-VL-7B"],
                  ["--protocol-model", "Qwen2.5-VL-7B-Instruct"]):  # fmt: skip
        assert main(["eval", *extra, "--tasks", "vlm4d_mc"]) == 2
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith("vlm4d eval: --protocol-model"), last
    assert "vlm4d protocols official --json" in last or "give --protocol official" in last


def test_eval_sets_the_frames_variable_and_protocol_model_for_lmms_eval(monkeypatch):
    """`vlm4d eval` hands lmms-eval VLM4D_FRAMES (the declared frames of the *_frames tasks,
    unless --frames is given) and VLM4D_PROTOCOL_MODEL."""
    from vlm4d_tasks.cli import eval as command

    seen = {}

    def fake_run(cmd, env):
        seen.update(env)
        raise KeyboardInterrupt  # stop there: nothing is started

    monkeypatch.setattr(command, "run_lmms_eval", fake_run)
    monkeypatch.delenv("VLM4D_FRAMES", raising=False)
    from vlm4d_tasks.cli import main

    args = ["eval", "--no-preflight", "--protocol", "official", "--protocol-model", "gpt-4o",
            "--model", "vlm4d_random", "--tasks", "vlm4d_mc_frames"]  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        main(args)
    assert seen["VLM4D_FRAMES"] == "32" and seen["VLM4D_PROTOCOL_MODEL"] == "gpt-4o"
    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        main([*args[:2], "--frames", "8", *args[2:]])
    assert seen["VLM4D_FRAMES"] == "8"


# --------------------------------------------------------------------------------------------
# What a run records: applied, and not applied with why


def test_metadata_says_which_declared_settings_were_not_applied_and_why():
    from vlm4d_tasks.lmms.protocol_run import describe_run, markdown_line

    # InternVideo2: 16 segment-centre frames, which no *_frames setting gives
    block = describe_run(
        ["vlm4d_mc_frames_official"], "do_sample=False,temperature=0", 215, "pretrained=x",
        model_class="vlm4d_random", protocol_model="OpenGVLab/InternVideo2-Chat-8B",
        frames="16",
    )  # fmt: skip
    declared = block["declared"]["official"]
    assert declared["model_settings"] == "InternVideo2-Chat-8B_1fps"
    why = declared["not_applied"]["frames[vlm4d_mc_frames_official]"]["why"]
    assert "16 segment-centre frames" in why
    # the random baseline passes no decoding setting on: none is recorded as applied
    assert "decoding.do_sample" not in declared["applied"]
    assert "answers without decoding" in declared["not_applied"]["decoding.do_sample"]["why"]
    assert "frames[vlm4d_mc_frames_official]" in markdown_line(block)
    # dsr-suite with the user's own frames and a class that takes the pixel budget
    block = describe_run(
        ["vlm4d_mc_dsr_suite", "vlm4d_mc_frames_dsr_suite"], "max_new_tokens=64", None,
        "pretrained=q,max_num_frames=8,max_pixels=230400", model_class="qwen2_5_vl",
    )  # fmt: skip
    declared = block["declared"]["dsr-suite"]
    assert (
        declared["applied"]["resolution[vlm4d_mc_dsr_suite]"] == "max_pixels=230400 (--model_args)"
    )
    assert declared["applied"]["frames[vlm4d_mc_frames_dsr_suite]"] == (
        "uniform-32 PIL frames (the task's frames)"
    )
    frames = declared["not_applied"]["frames[vlm4d_mc_dsr_suite]"]
    assert (frames["run"], frames["declared"]) == (8, 32)
    assert "max_num_frames=8 was given" in frames["why"]
    tokens = declared["not_applied"]["decoding.max_new_tokens"]
    assert (tokens["run"], tokens["declared"]) == (64, 20) and "--gen_kwargs" in tokens["why"]
    assert "PIL frames" in declared["not_applied"]["resolution[vlm4d_mc_frames_dsr_suite]"]["why"]


def test_frames_the_task_refused_are_recorded_not_raised():
    """A VLM4D_FRAMES the *_frames task cannot read fails that task, not the run's metadata."""
    from vlm4d_tasks.lmms.protocol_run import describe_run

    block = describe_run(["vlm4d_mc_frames_dsr_suite"], frames="many")
    missing = block["declared"]["dsr-suite"]["not_applied"]["frames[vlm4d_mc_frames_dsr_suite]"]
    assert (missing["run"], missing["declared"]) == (None, "uniform-32")
    assert "'many' (VLM4D_FRAMES=many)" in missing["why"]
