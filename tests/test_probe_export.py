"""Training data from a probe folder (`vlm4d_tasks.probe.export`, `vlm4d export-train`).

Each format is checked against what its framework documents or reads, written down here from
the source (not from our own code): LLaMA-Factory's data/README.md (commit ff6d4d12), the
LLaVA-NeXT training loader llava/train/train.py (commit df179663), and the Hugging Face folder
through the real `datasets.load_dataset` and `huggingface_hub.DatasetCard`.

The folders are made by the real generator (`generate_probe`, tiny clips). Until the generator
writes its train split, the train-only fields (`split`, `camera_motion`, `answer_free_form`,
`rationale`) are added to a copy of its records as the contract with it states them.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import jsonschema
import pytest

from vlm4d_tasks.cli import main
from vlm4d_tasks.data.annotations import PROBE_LABELS_FILE, PROBE_RECORDS_FILE
from vlm4d_tasks.data.schema import Record
from vlm4d_tasks.lmms.prompts import render_prompt
from vlm4d_tasks.metric.extract import extract
from vlm4d_tasks.probe.export import (
    COT_CLOSING,
    AnswerForm,
    ExportError,
    Mix,
    MixKey,
    TrainItem,
    apply_mix,
    free_form_prompt,
    llamafactory_dataset_info,
    llamafactory_records,
    llava_records,
    load_train_items,
    make_examples,
    mix_counts,
    parse_mix,
    response_for,
)
from vlm4d_tasks.probe.generate import ProbeSettings, generate_probe

# 12 scenes: two of each kind of story (translate, rotate, count) under both cameras.
SETTINGS = ProbeSettings(n_scenes=12, seed=3, width=64, height=48, fps=4, seconds=1.0, jobs=1)


@pytest.fixture(scope="module")
def test_folder(tmp_path_factory) -> Path:
    """A probe folder as generate-probe writes it today (the test split, no train fields)."""
    root = tmp_path_factory.mktemp("probe") / "probe"
    generate_probe(root, SETTINGS, progress=False)
    return root


def rationale_of(row: dict) -> str:
    return (
        f"The camera is {row['camera_motion']}. The question asks about {row['category']} "
        f"motion, and the motion seen is {row['answer_text']}. "
        f"Therefore, the final answer is: {row['answer']}."
    )


def with_train_fields(source: Path, target: Path) -> Path:
    """A copy of `source` whose records carry the train split's fields (the contract)."""
    shutil.copytree(source, target, symlinks=True)
    labels = json.loads((source / PROBE_LABELS_FILE).read_text())
    motion = {q["question_id"]: q["camera_motion"] for q in labels["questions"]}
    lines = []
    for line in (source / PROBE_RECORDS_FILE).read_text().splitlines():
        row = json.loads(line)
        row["split"] = "train"
        row["camera_motion"] = motion[row["question_id"]]
        row["answer_free_form"] = f"It moves {row['answer_text']}."
        row["rationale"] = rationale_of(row)
        lines.append(json.dumps(row, sort_keys=True))
    (target / PROBE_RECORDS_FILE).write_text("\n".join(lines) + "\n")
    return target


@pytest.fixture(scope="module")
def train_folder(test_folder, tmp_path_factory) -> Path:
    return with_train_fields(test_folder, tmp_path_factory.mktemp("train") / "probe")


def records_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / PROBE_RECORDS_FILE).read_text().splitlines()]


def export(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["export-train", *args])
    out, err = capsys.readouterr()
    return code, out, err


# -- LLaMA-Factory ------------------------------------------------------------------------
# From data/README.md, "Multimodal Video Dataset" + "OpenAI Format": a JSON list of objects
# with a `messages` list of {role, content} and a `videos` list of paths; "The number of
# videos should be identical to the `<video>` tokens in the conversations"; user (odd
# positions) and assistant (even positions) alternate, "gpt and function will be learned".
# The dataset description: file_name, formatting "sharegpt", columns messages/videos, tags.
LLAMAFACTORY_DATA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["messages", "videos"],
        "properties": {
            "messages": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "required": ["role", "content"],
                    "additionalProperties": False,
                    "properties": {
                        "role": {"enum": ["system", "user", "assistant"]},
                        "content": {"type": "string", "minLength": 1},
                    },
                },
            },
            "videos": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        },
    },
}
LLAMAFACTORY_INFO = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {
        "type": "object",
        "required": ["file_name", "formatting", "columns", "tags"],
        "properties": {
            "file_name": {"type": "string"},
            "formatting": {"const": "sharegpt"},
            "columns": {
                "type": "object",
                "required": ["messages", "videos"],
                "properties": {"messages": {"type": "string"}, "videos": {"type": "string"}},
            },
            "tags": {
                "type": "object",
                "required": ["role_tag", "content_tag", "user_tag", "assistant_tag"],
                "additionalProperties": {"type": "string"},
            },
        },
    },
}


def check_llamafactory(out: Path) -> list[dict]:
    """What LLaMA-Factory needs of a folder passed as `dataset_dir` (media_dir = dataset_dir)."""
    info = json.loads((out / "dataset_info.json").read_text())
    jsonschema.validate(info, LLAMAFACTORY_INFO)
    ((name, entry),) = info.items()
    data = json.loads((out / entry["file_name"]).read_text())
    jsonschema.validate(data, LLAMAFACTORY_DATA)
    tags, columns = entry["tags"], entry["columns"]
    for item in data:
        messages = item[columns["messages"]]
        roles = [m[tags["role_tag"]] for m in messages]
        assert roles[0::2] == [tags["user_tag"]] * len(roles[0::2]), roles
        assert roles[1::2] == [tags["assistant_tag"]] * len(roles[1::2]), roles
        assert len(roles) % 2 == 0, roles  # ends with the assistant's turn, which is learned
        tokens = sum(m[tags["content_tag"]].count("<video>") for m in messages)
        assert tokens == len(item[columns["videos"]])
        for video in item[columns["videos"]]:
            assert (out / video).is_file(), video  # os.path.join(media_dir, path) in _find_medias
    return data


def test_llamafactory_export_follows_the_documented_format(train_folder, tmp_path, capsys):
    out = tmp_path / "lf"
    code, stdout, err = export(
        capsys, "--from", str(train_folder), "--format", "llamafactory", "--out", str(out)
    )
    assert code == 0, err
    data = check_llamafactory(out)
    records = records_of(train_folder)
    assert len(data) == len(records)
    first, row = data[0], records[0]
    assert first["videos"] == [row["video"]]
    assert first["messages"][0]["content"] == "<video>" + render_prompt(
        Record.from_dict(row), "direct"
    )
    assert first["messages"][1]["content"] == row["answer"]
    assert "test probe questions" not in err  # a train folder: no leak warning


# -- LLaVA-Video ------------------------------------------------------------------------------
# From llava/train/train.py: `sample["video"]` joined to --video_folder; `conversations` of
# {"from", "value"} with "human" first ("gpt" answers; preprocess_qwen's roles); one
# DEFAULT_IMAGE_TOKEN "<image>" at the front of the human's turn, then "\n"
# (preprocess_multimodal); `id` read with sample.get("id", i).
LLAVA_DATA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["id", "video", "conversations"],
        "properties": {
            "id": {"type": "string"},
            "video": {"type": "string"},
            "conversations": {
                "type": "array",
                "minItems": 2,
                "items": {
                    "type": "object",
                    "required": ["from", "value"],
                    "additionalProperties": False,
                    "properties": {
                        "from": {"enum": ["human", "gpt"]},
                        "value": {"type": "string", "minLength": 1},
                    },
                },
            },
        },
    },
}


def check_llava(data: list[dict], video_folder: Path) -> None:
    jsonschema.validate(data, LLAVA_DATA)
    assert len({item["id"] for item in data}) == len(data)
    for item in data:
        turns = item["conversations"]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        assert turns[0]["value"].startswith("<image>\n")
        assert sum(t["value"].count("<image>") for t in turns) == 1
        assert os.path.isfile(os.path.join(video_folder, item["video"]))


def test_llava_export_follows_the_training_loader(train_folder, tmp_path, capsys):
    out = tmp_path / "llava"
    code, _, err = export(
        capsys,
        "--from",
        str(train_folder),
        "--format",
        "llava",
        "--out",
        str(out),
        "--answer",
        "cot",
    )
    assert code == 0, err
    data = json.loads((out / "vlm4d_probe_train_cot.json").read_text())
    check_llava(data, out)
    row = records_of(train_folder)[0]
    assert data[0]["id"] == row["uid"]
    assert data[0]["conversations"][0]["value"] == "<image>\n" + render_prompt(
        Record.from_dict(row), "cot"
    )
    assert data[0]["conversations"][1]["value"] == rationale_of(row)
    # The project's own answer extraction reads every cot response as the right letter.
    rows = {r["uid"]: r for r in records_of(train_folder)}
    for entry in data:
        r = rows[entry["id"]]
        found = extract(entry["conversations"][1]["value"], r["options"], r["question"])
        assert found.letter == r["answer"], entry


# -- Hugging Face dataset ------------------------------------------------------------------


def test_hf_export_loads_with_datasets_and_has_a_publishable_card(
    train_folder, tmp_path, capsys, hf_home
):
    from datasets import load_dataset
    from huggingface_hub import DatasetCard

    out = tmp_path / "hf"
    code, _, err = export(
        capsys, "--from", str(train_folder), "--format", "hf", "--out", str(out), "--answer", "free"
    )
    assert code == 0, err
    rows = list(load_dataset(str(out))["train"])
    records = records_of(train_folder)
    assert [r["uid"] for r in rows] == [r["uid"] for r in records]
    assert rows[0]["response"] == records[0]["answer_free_form"]
    assert rows[0]["prompt"] == free_form_prompt(Record.from_dict(records[0]))
    assert rows[0]["camera_motion"] == records[0]["camera_motion"]
    assert rows[0]["options"] == records[0]["options"]
    assert all((out / r["video"]).is_file() for r in rows)
    # The card's YAML as the hub reads it: one default config, data_files as {split, path}.
    card = DatasetCard.load(out / "README.md")
    (config,) = card.data.configs
    assert config["default"] is True
    assert config["data_files"] == [{"split": "train", "path": "data/train.parquet"}]
    assert card.data.dataset_info[0]["splits"][0]["num_examples"] == len(records)
    assert "does not claim" in card.text and "No model was fine-tuned" in card.text
    assert "split `train`." in card.text and "**test**" not in card.text
    summary = json.loads((out / "export_summary.json").read_text())
    assert summary["examples"] == len(records) and summary["splits"] == {"train": len(records)}
    assert summary["free_form_fallbacks"] == 0 and "option text" not in err


def test_each_export_is_byte_identical_on_a_rerun(train_folder, tmp_path, capsys):
    for fmt in ("llamafactory", "llava", "hf"):
        a, b = tmp_path / f"{fmt}-a", tmp_path / f"{fmt}-b"
        for out in (a, b):
            code, _, err = export(
                capsys,
                "--from",
                str(train_folder),
                "--format",
                fmt,
                "--out",
                str(out),
                "--mix",
                "perspective=egocentric:0.5,exocentric:0.5",
                "--seed",
                "7",
            )
            assert code == 0, err
        files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        for name in files:
            assert (a / name).read_bytes() == (b / name).read_bytes(), (fmt, name)


def test_the_generators_own_train_split_exports_in_every_form(tmp_path, capsys, hf_home):
    if "split" not in ProbeSettings.__dataclass_fields__:
        pytest.skip("generate-probe has no train split yet (the contract's other half)")
    from datasets import load_dataset

    folder = tmp_path / "train"
    generate_probe(folder, ProbeSettings(**{**vars(SETTINGS), "split": "train"}), progress=False)
    rows = {r["uid"]: r for r in records_of(folder)}
    for form in ("mc", "free", "cot"):
        out = tmp_path / f"lf-{form}"
        code, _, err = export(
            capsys,
            "--from",
            str(folder),
            "--format",
            "llamafactory",
            "--out",
            str(out),
            "--answer",
            form,
        )
        assert code == 0, err
        assert "test probe questions" not in err
        check_llamafactory(out)
    out = tmp_path / "llava"
    code, _, err = export(
        capsys, "--from", str(folder), "--format", "llava", "--out", str(out), "--answer", "cot"
    )
    assert code == 0, err
    data = json.loads((out / "vlm4d_probe_train_cot.json").read_text())
    check_llava(data, out)
    for entry in data:
        r = rows[entry["id"]]
        assert entry["conversations"][1]["value"].startswith(r["rationale"].rstrip())
        found = extract(entry["conversations"][1]["value"], r["options"], r["question"])
        assert found.letter == r["answer"], entry
    out = tmp_path / "hf"
    code, _, err = export(
        capsys, "--from", str(folder), "--format", "hf", "--out", str(out), "--answer", "free"
    )
    assert code == 0, err
    loaded = load_dataset(str(out))["train"]
    assert [r["response"] for r in loaded] == [rows[r["uid"]]["answer_free_form"] for r in loaded]
    assert len(loaded) == len(rows)


# -- answer forms -------------------------------------------------------------------------------

RECORD = Record(
    uid="probe/probe_0007",
    question_id="probe_0007",
    subset="probe",
    source="probe",
    perspective="egocentric",
    category="rotational",
    question="Which way does the red cube turn?",
    options=["clockwise", "counter-clockwise", "not turning", "it flips over"],
    answer="B",
    answer_text="counter-clockwise",
    video="videos_probe/scene_0004.mp4",
)


def item(**fields) -> TrainItem:
    base = dict(
        record=RECORD,
        split="train",
        camera_motion="pan",
        answer_free_form="It turns counter-clockwise.",
        rationale="The camera pans right. The cube turns counter-clockwise. "
        "Therefore, the final answer is: B.",
        where="probe_records.jsonl:7 (probe_0007)",
    )
    return TrainItem(**{**base, **fields})


def test_each_answer_form_from_a_literal_record():
    assert response_for(item(), "mc") == "B"
    assert response_for(item(), "free") == "It turns counter-clockwise."
    assert response_for(item(answer_free_form=None), "free") == "counter-clockwise"
    assert response_for(item(), "cot") == item().rationale  # already closed as the prompt asks
    plain = "The cube turns counter-clockwise. So the answer is: counter-clockwise."
    assert response_for(item(rationale=plain), "cot") == (
        f"{plain} Therefore, the final answer is: B."
    )
    (example,) = make_examples([item()], AnswerForm.FREE, free_form_prompt)
    assert example.prompt == (
        "Question: Which way does the red cube turn?\nAnswer the question in one short sentence."
    )
    assert llamafactory_records([example]) == [
        {
            "messages": [
                {"role": "user", "content": "<video>" + example.prompt},
                {"role": "assistant", "content": "It turns counter-clockwise."},
            ],
            "videos": ["videos_probe/scene_0004.mp4"],
        }
    ]
    assert llava_records([example]) == [
        {
            "id": "probe/probe_0007",
            "video": "videos_probe/scene_0004.mp4",
            "conversations": [
                {"from": "human", "value": "<image>\n" + example.prompt},
                {"from": "gpt", "value": "It turns counter-clockwise."},
            ],
        }
    ]
    assert llamafactory_dataset_info("d", "d.json")["d"]["columns"] == {
        "messages": "messages",
        "videos": "videos",
    }


def test_the_cot_closing_is_the_one_the_projects_cot_prompt_asks_for():
    asked = render_prompt(RECORD, "cot")
    assert COT_CLOSING.format(letter="$LETTER").rstrip(".") in asked


def test_cot_without_a_rationale_names_the_record_and_field():
    with pytest.raises(ExportError) as err:
        response_for(item(rationale=None), "cot")
    assert "probe_records.jsonl:7 (probe_0007)" in str(err.value)
    assert "'rationale'" in str(err.value) and "Fix:" in str(err.value)
    with pytest.raises(ExportError, match="does not end with the answer"):
        response_for(item(rationale="The cube turns. So the answer is A."), "cot")


def test_a_question_holding_a_media_token_is_refused():
    bad = item(record=Record(**{**RECORD.to_dict(), "question": "Is <video> shown?"}))
    with pytest.raises(ExportError, match="media placeholder"):
        make_examples([bad], "mc", lambda r: r.question)


def test_the_test_split_works_with_fallbacks_and_warns(test_folder, tmp_path, capsys):
    labels = json.loads((test_folder / PROBE_LABELS_FILE).read_text())
    motion = {s["video"]: s["camera"]["motion"] for s in labels["scenes"]}
    items = load_train_items(test_folder)
    assert {i.split for i in items} == {"test"}
    assert [i.camera_motion for i in items] == [motion[i.record.video] for i in items]
    assert {"static"} < {i.camera_motion for i in items}  # static and moving cameras both
    code, _, err = export(
        capsys,
        "--from",
        str(test_folder),
        "--format",
        "llava",
        "--out",
        str(tmp_path / "o"),
        "--answer",
        "free",
    )
    assert code == 0, err
    data = json.loads((tmp_path / "o" / "vlm4d_probe_test_free.json").read_text())
    assert [d["conversations"][1]["value"] for d in data] == [i.record.answer_text for i in items]
    assert "test probe questions" in err  # training on the evaluation set is said out loud
    assert f"{len(items)} of {len(items)} free-form answers are the option text" in err
    summary = json.loads((tmp_path / "o" / "export_summary.json").read_text())
    assert summary["free_form_fallbacks"] == len(items)
    code, _, err = export(
        capsys,
        "--from",
        str(test_folder),
        "--format",
        "hf",
        "--out",
        str(tmp_path / "h"),
        "--answer",
        "free",
    )
    assert code == 0, err
    card = (tmp_path / "h" / "README.md").read_text()
    assert "split `test`. They are the questions of the **test** probe set" in card
    assert f"without it: {len(items)} here" in card
    code, _, err = export(
        capsys,
        "--from",
        str(test_folder),
        "--format",
        "hf",
        "--out",
        str(tmp_path / "c"),
        "--answer",
        "cot",
    )
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert PROBE_RECORDS_FILE in last and "'rationale'" in last and "Fix:" in last
    assert not (tmp_path / "c").exists()


def test_camera_motion_without_labels_is_an_error_naming_the_file(test_folder, tmp_path):
    folder = tmp_path / "p"
    shutil.copytree(test_folder, folder)
    (folder / PROBE_LABELS_FILE).unlink()
    with pytest.raises(ExportError, match=f"{PROBE_LABELS_FILE}: missing.*camera_motion"):
        load_train_items(folder)


def test_a_flagged_record_stops_the_export(train_folder, tmp_path, capsys):
    folder = tmp_path / "p"
    shutil.copytree(train_folder, folder, symlinks=True)
    rows = records_of(folder)
    rows[2]["answer_text"] = "sideways"  # matches none of its options
    (folder / PROBE_RECORDS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, err = export(
        capsys, "--from", str(folder), "--format", "llava", "--out", str(tmp_path / "o")
    )
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert rows[2]["question_id"] in last and "'answer'" in last and "Fix:" in last


def test_a_fifo_for_the_records_is_refused_at_once(tmp_path, capsys):
    folder = tmp_path / "p"
    folder.mkdir()
    os.mkfifo(folder / PROBE_RECORDS_FILE)
    start = time.monotonic()
    code, _, err = export(
        capsys, "--from", str(folder), "--format", "hf", "--out", str(tmp_path / "o")
    )
    assert code == 2 and time.monotonic() - start < 5
    assert "FIFO" in err.strip().splitlines()[-1]


def test_out_holding_the_probe_folder_is_refused(train_folder, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copytree(train_folder, out / "probe", symlinks=True)
    code, _, err = export(
        capsys, "--from", str(out / "probe"), "--format", "llava", "--out", str(out), "--force"
    )
    assert code == 2 and "inside it" in err
    assert (out / "probe" / PROBE_RECORDS_FILE).is_file()


# -- mixes ------------------------------------------------------------------------------------


def test_parse_mix_reads_exact_shares():
    mix = parse_mix("category=translational:0.5,rotational:0.3,counting:0.2")
    assert mix.key is MixKey.CATEGORY
    assert [(v, str(s)) for v, s in mix.shares.items()] == [
        ("translational", "1/2"),
        ("rotational", "3/10"),
        ("counting", "1/5"),
    ]
    assert sum(parse_mix("camera_motion=static:1/3,pan:1/3,walk:1/3").shares.values()) == 1


@pytest.mark.parametrize(
    "spec, message",
    [
        ("colour=red:1", "unknown field 'colour'"),
        ("category=translational:0.5,rotational:0.4", "sum to 0.9, not 1"),
        ("category=translation:1", "'translation' is no category"),
        ("category=counting:0.5,counting:0.5", "named twice"),
        ("category=counting:1,rotational:0", "not above 0"),
        ("perspective=egocentric:x", "'x' is not a number"),
        ("category=", "no VALUE:SHARE"),
        ("category=counting", "is not VALUE:SHARE"),
    ],
)
def test_a_bad_mix_says_what_is_wrong_and_how_to_write_one(spec, message):
    with pytest.raises(ExportError) as err:
        parse_mix(spec)
    assert message in str(err.value) and "Fix: write --mix KEY=VALUE:SHARE" in str(err.value)


def test_mix_counts_take_the_largest_size_the_shares_allow():
    mix = parse_mix("category=translational:0.5,rotational:0.3,counting:0.2")
    available = {"translational": 10, "rotational": 10, "counting": 10, "false_positive": 4}
    assert mix_counts(mix, available) == {"translational": 10, "rotational": 6, "counting": 4}
    # largest remainders: 7 * (0.5, 0.3, 0.2) = 3.5, 2.1, 1.4 -> 3 + 1, 2, 1
    assert mix_counts(mix, available, 7) == {"translational": 4, "rotational": 2, "counting": 1}
    with pytest.raises(ExportError) as err:
        mix_counts(mix, available, 21)
    assert "translational" in str(err.value) and "--size 20 or less" in str(err.value)
    with pytest.raises(ExportError, match="no question has category=counting"):
        mix_counts(mix, {"translational": 10, "rotational": 10})


def test_apply_mix_is_deterministic_and_reports_what_it_achieved(train_folder):
    items = load_train_items(train_folder)
    mix = Mix(MixKey.PERSPECTIVE, parse_mix("perspective=egocentric:3/4,exocentric:1/4").shares)
    chosen, report = apply_mix(items, mix, seed=1)
    again, _ = apply_mix(items, mix, seed=1)
    assert [i.record.uid for i in chosen] == [i.record.uid for i in again]
    egocentric = sum(i.record.perspective == "egocentric" for i in items)
    assert report.counts["egocentric"] == egocentric  # the scarce value is taken whole
    assert report.total == len(chosen) == report.counts["egocentric"] + report.counts["exocentric"]
    assert report.achieved["egocentric"] == round(report.counts["egocentric"] / report.total, 6)
    assert [i.record.perspective for i in chosen].count("exocentric") == report.counts["exocentric"]
    others = {tuple(i.record.uid for i in apply_mix(items, mix, seed=s)[0]) for s in range(2, 6)}
    assert len(others | {tuple(i.record.uid for i in chosen)}) > 1  # the seed matters


def test_cli_mix_states_achieved_proportions_and_refuses_an_impossible_size(
    train_folder, tmp_path, capsys
):
    items = load_train_items(train_folder)
    spec = "category=translational:0.5,rotational:0.25,counting:0.25"
    code, stdout, err = export(
        capsys,
        "--from",
        str(train_folder),
        "--format",
        "llamafactory",
        "--out",
        str(tmp_path / "m"),
        "--mix",
        spec,
        "--size",
        "8",
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "m" / "export_summary.json").read_text())
    assert summary["mix"]["counts"] == {"translational": 4, "rotational": 2, "counting": 2}
    assert summary["mix"]["achieved"] == {
        "translational": 0.5,
        "rotational": 0.25,
        "counting": 0.25,
    }
    assert summary["by_category"] == {"counting": 2, "rotational": 2, "translational": 4}
    assert "mix by category: translational 4 (0.5000 of 0.5000 asked)" in stdout
    assert len(check_llamafactory(tmp_path / "m")) == 8
    counting = sum(i.record.category == "counting" for i in items)
    code, _, err = export(
        capsys,
        "--from",
        str(train_folder),
        "--format",
        "llamafactory",
        "--out",
        str(tmp_path / "n"),
        "--mix",
        "category=counting:1",
        "--size",
        str(counting + 1),
    )
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert f"has {counting}" in last and f"--size {counting} or less" in last
    assert not (tmp_path / "n").exists()


def test_the_hf_folder_is_what_push_dataset_uploads(train_folder, tmp_path, capsys, monkeypatch):
    # The hub is the boundary: HfApi is replaced, the file selection is huggingface_hub's own.
    import huggingface_hub
    from huggingface_hub.utils import filter_repo_objects

    from vlm4d_tasks.data import hub
    from vlm4d_tasks.data.outdir import MARKER

    out = tmp_path / "hf"
    code, _, err = export(
        capsys, "--from", str(train_folder), "--format", "hf", "--out", str(out), "--copy-videos"
    )
    assert code == 0, err
    uploaded: list[str] = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kwargs):
            pass

        def upload_folder(self, *, folder_path, ignore_patterns=None, **kwargs):
            files = [
                p.relative_to(folder_path).as_posix()
                for p in Path(folder_path).rglob("*")
                if p.is_file()
            ]
            uploaded.extend(filter_repo_objects(files, ignore_patterns=ignore_patterns))
            return "https://example.invalid/commit"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    hub.push_dataset(out, "me/vlm4d-probe-train")
    videos = {r["video"] for r in records_of(train_folder)}
    assert set(uploaded) == {"README.md", "data/train.parquet", "export_summary.json", *videos}
    assert MARKER not in uploaded
    assert not any((out / v).is_symlink() for v in videos)  # --copy-videos: the clips themselves


def test_size_without_a_mix_draws_a_seeded_subset(train_folder, tmp_path, capsys):
    uids = [r["uid"] for r in records_of(train_folder)]
    drawn = []
    for name, seed in (("a", "4"), ("b", "4"), ("c", "5")):
        code, _, err = export(
            capsys,
            "--from",
            str(train_folder),
            "--format",
            "llava",
            "--out",
            str(tmp_path / name),
            "--size",
            "5",
            "--seed",
            seed,
        )
        assert code == 0, err
        data = json.loads((tmp_path / name / "vlm4d_probe_train_mc.json").read_text())
        ids = [d["id"] for d in data]
        assert len(ids) == 5 and ids == [u for u in uids if u in ids]  # the folder's order
        drawn.append(ids)
    assert drawn[0] == drawn[1]
    code, _, err = export(
        capsys,
        "--from",
        str(train_folder),
        "--format",
        "llava",
        "--out",
        str(tmp_path / "d"),
        "--size",
        str(len(uids) + 1),
    )
    assert code == 2 and f"--size 1 to {len(uids)}" in err.strip().splitlines()[-1]


def test_a_video_path_under_a_dot_folder_is_refused_before_writing(train_folder, tmp_path, capsys):
    folder = tmp_path / "p"
    shutil.copytree(train_folder, folder, symlinks=True)
    rows = records_of(folder)
    (folder / "videos_probe" / ".hidden").mkdir()
    shutil.copy(folder / rows[0]["video"], folder / "videos_probe" / ".hidden" / "a.mp4")
    rows[0]["video"] = "videos_probe/.hidden/a.mp4"
    (folder / PROBE_RECORDS_FILE).write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, _, err = export(
        capsys, "--from", str(folder), "--format", "hf", "--out", str(tmp_path / "o")
    )
    assert code == 2 and not (tmp_path / "o").exists()
    last = err.strip().splitlines()[-1]
    assert rows[0]["question_id"] in last and "field 'video'" in last
    assert last.endswith("Fix: regenerate the folder with `vlm4d generate-probe`")
