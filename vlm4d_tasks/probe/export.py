"""Training data from a probe folder: the SFT formats that fine-tuning frameworks read.

VLM4D (Zhou et al., ICCV 2025, Sec. 5 and Table 2) fine-tunes Qwen2-VL on spatiotemporal
question-answer pairs, with multiple-choice and free-form answers, and never released that
training split. A folder written by `vlm4d generate-probe` (best with `--split train`) holds
questions whose answers are exact by construction; this module turns it into:

* LLaMA-Factory's ShareGPT video format: a JSON list of ``{"messages": [user, assistant],
  "videos": [path]}`` and the `dataset_info.json` entry that declares it
  (`llamafactory_records`, `llamafactory_dataset_info`);
* the LLaVA-Video JSON format of LLaVA-NeXT: ``[{"id", "video", "conversations": [human,
  gpt]}]`` (`llava_records`);
* a Hugging Face dataset folder: Parquet + a README card whose YAML `configs` make
  `datasets.load_dataset(folder)` work and `huggingface_hub.upload_folder` (`vlm4d
  push-dataset`) publish it (`hf_rows`, `train_card`).

Each answer form comes from the same geometry: `mc` the option letter, `free` the
generator's short sentence (`answer_free_form`; the option text for a folder written before
that field existed), `cot` the generator's rationale, which ends with the answer, closed by
the sentence the project's chain-of-thought prompt asks for ("Therefore, the final answer is:
X."). The prompt
is passed in by the caller (the command line renders the project's lmms-eval prompts: `direct`
for `mc`, `cot` for `cot`), since `lmms` sits above this floor; `free_form_prompt` is the
one prompt of this module, for the form the benchmark has no prompt of its own for.

A mix (`parse_mix`, `apply_mix`) draws a subset with stated proportions of one field
(category, perspective or camera motion), deterministically from a seed, and reports the
proportions it achieved. Nothing here trains a model.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from vlm4d_tasks.data.annotations import (
    PROBE_LABELS_FILE,
    PROBE_RECORDS_FILE,
    AnnotationError,
    load_probe_record_file,
)
from vlm4d_tasks.data.files import InputFileError, read_regular_text
from vlm4d_tasks.data.schema import Category, Perspective, Record, same_text_key

MADE_BY = "vlm4d export-train"
SUMMARY_FILE = "export_summary.json"
LLAMAFACTORY_INFO_FILE = "dataset_info.json"
# The split a record without a `split` field belongs to: generate-probe wrote no split before
# it had a train split, so such a folder is the (test) probe set.
DEFAULT_SPLIT = "test"
# The media placeholders of the two frameworks; a question that already holds one would put
# two videos' worth of tokens against one video.
VIDEO_TOKEN = "<video>"  # LLaMA-Factory: one per entry of `videos`
IMAGE_TOKEN = "<image>"  # LLaVA-NeXT: DEFAULT_IMAGE_TOKEN, also for a video
FREE_FORM_INSTRUCTION = "Answer the question in one short sentence."
# The last sentence the project's chain-of-thought prompt asks for (lmms/tasks/prompt_cot.jinja:
# 'state the final answer in the format "Therefore, the final answer is: $LETTER"'), which the
# answer extraction reads: a cot example ends with it, so the model learns what it is asked.
COT_CLOSING = "Therefore, the final answer is: {letter}."


class ExportError(ValueError):
    """The probe folder cannot be exported as asked; the message names the file, record and
    field, and ends with the fix."""


class AnswerForm(str, enum.Enum):
    MC = "mc"  # the option letter
    FREE = "free"  # a short sentence
    COT = "cot"  # a rationale that ends with the answer


class Format(str, enum.Enum):
    LLAMAFACTORY = "llamafactory"
    LLAVA = "llava"
    HF = "hf"


class MixKey(str, enum.Enum):
    CATEGORY = "category"
    PERSPECTIVE = "perspective"
    CAMERA_MOTION = "camera_motion"


@dataclass(frozen=True)
class TrainItem:
    """One question of a probe folder with the fields training needs beyond `Record`."""

    record: Record
    split: str
    camera_motion: str
    answer_free_form: str | None  # None: the folder predates the field
    rationale: str | None  # None: the folder predates the field
    where: str  # "FILE:LINE (question_id)", for errors

    def value(self, key: MixKey) -> str:
        if key is MixKey.CAMERA_MOTION:
            return self.camera_motion
        return str(getattr(self.record, key.value))


@dataclass(frozen=True)
class Example:
    """One training example, independent of the file format it is written in."""

    uid: str
    question_id: str
    split: str
    video: str
    question: str
    options: list[str]
    answer: str
    answer_text: str
    category: str
    perspective: str | None
    camera_motion: str
    answer_form: str
    prompt: str
    response: str


# -- reading a probe folder ---------------------------------------------------------------


def _optional_text(row: dict, name: str, where: str) -> str | None:
    if name not in row or row[name] is None:
        return None
    value = row[name]
    if not isinstance(value, str) or not value.strip():
        raise ExportError(
            f"{where}: field {name!r} is {value!r}, not a non-empty string. Fix: regenerate "
            "the folder with `vlm4d generate-probe`"
        )
    return value


def _camera_motions(folder: Path) -> dict[str, str]:
    """Video path -> camera motion, from the generator's probe_labels.json scenes."""
    path = folder / PROBE_LABELS_FILE
    fix = (
        "Fix: pass the whole folder written by `vlm4d generate-probe` (its probe_labels.json "
        "holds each scene's camera), or regenerate it"
    )
    try:
        data = json.loads(read_regular_text(path))
    except FileNotFoundError:
        raise ExportError(
            f"{path}: missing, and the records carry no 'camera_motion'. {fix}"
        ) from None
    except InputFileError as exc:
        raise ExportError(f"{exc.path}: {exc.cause}. {fix}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExportError(f"{path}: not valid JSON ({exc}). {fix}") from None
    scenes = data.get("scenes") if isinstance(data, dict) else None
    if not isinstance(scenes, list):
        raise ExportError(f"{path}: field 'scenes' is not a list. {fix}")
    motions: dict[str, str] = {}
    for index, scene in enumerate(scenes):
        camera = scene.get("camera") if isinstance(scene, dict) else None
        motion = camera.get("motion") if isinstance(camera, dict) else None
        video = scene.get("video") if isinstance(scene, dict) else None
        if not isinstance(video, str) or not isinstance(motion, str) or not motion:
            raise ExportError(
                f"{path}: scenes[{index}]: field 'video' or 'camera.motion' is missing or not "
                f"a string. {fix}"
            )
        motions[video] = motion
    return motions


def load_train_items(folder: str | Path) -> list[TrainItem]:
    """The questions of a `vlm4d generate-probe` folder, with their training fields.

    The records are read and validated by the dataset's own probe loader; a record it flags
    (an answer that matches no option, a video path that could leave the folder, a duplicate
    id) is an error here, since a training example must be right. `camera_motion`, when a
    record lacks it, comes from probe_labels.json (`scenes[].camera.motion`, by video).
    """
    folder = Path(folder)
    path = folder / PROBE_RECORDS_FILE
    if not path.exists():  # exists(): a FIFO here is refused by the reader as what it is
        raise ExportError(
            f"{path}: no probe records here. Fix: pass a folder written by "
            f"`vlm4d generate-probe --out {folder}`"
        )
    try:
        annotations = load_probe_record_file(path)
        text = read_regular_text(path)
    except AnnotationError as exc:
        raise ExportError(
            f"{exc}. Fix: regenerate the folder with `vlm4d generate-probe`"
        ) from None
    except InputFileError as exc:
        raise ExportError(f"{exc.path}: {exc.cause}; {exc.fix}") from None
    if annotations.problems:
        first = annotations.problems[0]
        more = (
            f" (and {len(annotations.problems) - 1} more)" if len(annotations.problems) > 1 else ""
        )
        raise ExportError(
            f"{first.file}: record {first.record}: field {first.field!r}: {first.message}{more}; "
            "nothing was written, since a training example must be right. Fix: regenerate "
            "the folder with `vlm4d generate-probe`"
        )
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if len(lines) != len(annotations.records):  # the loader reads the same lines; a guard
        raise ExportError(f"{path}: changed while it was read. Fix: run the export again")
    motions: dict[str, str] | None = None
    items = []
    for (number, line), record in zip(lines, annotations.records, strict=True):
        row = json.loads(line)  # valid: the loader parsed this very line
        where = f"{path}:{number} ({record.question_id})"
        split = _optional_text(row, "split", where) or DEFAULT_SPLIT
        motion = _optional_text(row, "camera_motion", where)
        if motion is None:
            motions = _camera_motions(folder) if motions is None else motions
            if record.video not in motions:
                raise ExportError(
                    f"{where}: field 'camera_motion' is absent and {folder / PROBE_LABELS_FILE} "
                    f"has no scene with video {record.video!r}. Fix: regenerate the folder "
                    "with `vlm4d generate-probe`"
                )
            motion = motions[record.video]
        items.append(
            TrainItem(
                record=record,
                split=split,
                camera_motion=motion,
                answer_free_form=_optional_text(row, "answer_free_form", where),
                rationale=_optional_text(row, "rationale", where),
                where=where,
            )
        )
    if not items:
        raise ExportError(f"{path}: no questions. Fix: regenerate the folder with more scenes")
    return items


# -- answer forms and prompts -----------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _ends_with_answer(rationale: str, record: Record) -> bool:
    """The rationale's last sentence names the answer: its letter as a word, or its text."""
    last = [s for s in _SENTENCE_END.split(rationale.strip()) if s.strip()][-1]
    return bool(re.search(rf"\b{re.escape(record.answer)}\b", last)) or (
        same_text_key(record.answer_text) in same_text_key(last)
    )


def response_for(item: TrainItem, form: AnswerForm | str) -> str:
    """The assistant's answer of `item` in `form`.

    `mc`: the letter (the project's direct prompt asks for the letter only). `free`:
    `answer_free_form`, or the option text when the folder predates that field. `cot`: the
    rationale, which must be there and end with the answer, then `COT_CLOSING` with the
    letter (unless it already ends so), the sentence the project's cot prompt asks for.
    """
    form = AnswerForm(form)
    if form is AnswerForm.MC:
        return item.record.answer
    if form is AnswerForm.FREE:
        return item.answer_free_form or item.record.answer_text
    if item.rationale is None:
        raise ExportError(
            f"{item.where}: field 'rationale' is missing, and --answer cot needs it; nothing "
            "was written. Fix: generate the folder with `vlm4d generate-probe --split train` "
            "(which writes rationales), or export --answer mc or free"
        )
    if not _ends_with_answer(item.rationale, item.record):
        raise ExportError(
            f"{item.where}: field 'rationale' does not end with the answer "
            f"({item.record.answer}, {item.record.answer_text!r}); nothing was written. Fix: "
            "regenerate the folder with `vlm4d generate-probe --split train`"
        )
    closing = COT_CLOSING.format(letter=item.record.answer)
    text = item.rationale.rstrip()
    return text if text.endswith(closing) else f"{text} {closing}"


def free_form_prompt(record: Record) -> str:
    """The prompt of a free-form example: the question without its options, in the layout
    of the project's prompts ("Question: ...")."""
    return f"Question: {record.question}\n{FREE_FORM_INSTRUCTION}"


PromptFn = Callable[[Record], str]


def make_examples(
    items: Sequence[TrainItem], form: AnswerForm | str, prompt: PromptFn
) -> list[Example]:
    """One `Example` per item: `prompt(record)` as the user's turn, `response_for` as the
    assistant's. Raises `ExportError` naming the record when a form's field is missing or a
    question already holds a media placeholder."""
    form = AnswerForm(form)
    examples = []
    for item in items:
        r = item.record
        text = prompt(r)
        if not isinstance(text, str) or not text.strip():
            raise ExportError(f"{item.where}: the prompt is empty. Fix: check the prompt function")
        for token in (VIDEO_TOKEN, IMAGE_TOKEN):
            if token in text:
                raise ExportError(
                    f"{item.where}: field 'question' or 'options' holds {token!r}, which the "
                    "fine-tuning frameworks read as a media placeholder; nothing was written. "
                    "Fix: regenerate the folder with `vlm4d generate-probe`"
                )
        examples.append(
            Example(
                uid=r.uid,
                question_id=r.question_id,
                split=item.split,
                video=r.video,
                question=r.question,
                options=list(r.options),
                answer=r.answer,
                answer_text=r.answer_text,
                category=r.category,
                perspective=r.perspective,
                camera_motion=item.camera_motion,
                answer_form=form.value,
                prompt=text,
                response=response_for(item, form),
            )
        )
    return examples


# -- the three formats --------------------------------------------------------------------------
# LLaMA-Factory: data/README.md of github.com/hiyouga/LLaMA-Factory at commit
# ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30, "Multimodal Video Dataset" and "OpenAI Format"
# (sharegpt formatting with role/content tags, as data/dataset_info.json declares its own
# `mllm_video_demo`): "The number of videos should be identical to the `<video>` tokens in the
# conversations"; a relative video path is joined to `media_dir`, which defaults to
# `dataset_dir` (src/llamafactory/data/converter.py `_find_medias`, hparams/data_args.py).


def llamafactory_records(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """LLaMA-Factory's ShareGPT video entries: one `<video>` token, one video each."""
    return [
        {
            "messages": [
                {"role": "user", "content": f"{VIDEO_TOKEN}{e.prompt}"},
                {"role": "assistant", "content": e.response},
            ],
            "videos": [e.video],
        }
        for e in examples
    ]


def llamafactory_dataset_info(name: str, file_name: str) -> dict[str, Any]:
    """The `dataset_info.json` of a folder that holds one dataset file, `file_name`."""
    return {
        name: {
            "file_name": file_name,
            "formatting": "sharegpt",
            "columns": {"messages": "messages", "videos": "videos"},
            "tags": {
                "role_tag": "role",
                "content_tag": "content",
                "user_tag": "user",
                "assistant_tag": "assistant",
            },
        }
    }


# LLaVA-Video: llava/train/train.py of github.com/LLaVA-VL/LLaVA-NeXT at commit
# df179663ae8b83207df100a1f7af24caec633ff9. `LazySupervisedDataset._get_item` opens
# `os.path.join(--video_folder, sample["video"])`; `preprocess_multimodal` moves the one
# DEFAULT_IMAGE_TOKEN "<image>" (llava/constants.py; a video uses it too) to the front of
# the turn followed by "\n"; the roles are "human" and "gpt" (`preprocess_qwen`: the first
# turn must be the human's); `data_dict["id"] = sample.get("id", i)`.


def llava_records(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """LLaVA-Video training entries: the video's token first in the human's turn."""
    return [
        {
            "id": e.uid,
            "video": e.video,
            "conversations": [
                {"from": "human", "value": f"{IMAGE_TOKEN}\n{e.prompt}"},
                {"from": "gpt", "value": e.response},
            ],
        }
        for e in examples
    ]


HF_COLUMNS = (
    "uid",
    "question_id",
    "split",
    "video",
    "question",
    "options",
    "answer",
    "answer_text",
    "category",
    "perspective",
    "camera_motion",
    "answer_form",
    "prompt",
    "response",
)


def hf_features():
    """The `datasets.Features` of a training row (imported lazily: `datasets` is heavy)."""
    from datasets import Features, Value

    try:  # datasets >= 4 names list columns `List`; older releases `Sequence`
        from datasets import List as Sequence_
    except ImportError:  # pragma: no cover - datasets < 4
        from datasets import Sequence as Sequence_

    return Features(
        {
            name: Sequence_(Value("string")) if name == "options" else Value("string")
            for name in HF_COLUMNS
        }
    )


def hf_rows(examples: Sequence[Example]) -> list[dict[str, Any]]:
    """The rows of the Hugging Face dataset, columns in `HF_COLUMNS` order."""
    return [{name: getattr(e, name) for name in HF_COLUMNS} for e in examples]


# -- mixes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """Proportions of the values of one field, exact fractions summing to 1."""

    key: MixKey
    shares: dict[str, Fraction]


@dataclass
class MixReport:
    key: str
    requested: dict[str, float]
    available: dict[str, int]
    counts: dict[str, int]
    achieved: dict[str, float]
    total: int


def _known_values(key: MixKey) -> tuple[str, ...] | None:
    if key is MixKey.CATEGORY:
        return tuple(c.value for c in Category)
    if key is MixKey.PERSPECTIVE:
        return tuple(p.value for p in Perspective)
    return None  # camera paths are the generator's; checked against the data instead


def parse_mix(spec: str) -> Mix:
    """`KEY=VALUE:SHARE,VALUE:SHARE,...`, e.g. `category=translational:0.5,rotational:0.3,
    counting:0.2`. Shares are decimals or fractions (`1/3`), each above 0, summing to 1."""
    usage = (
        "Fix: write --mix KEY=VALUE:SHARE,..., KEY one of "
        f"{', '.join(k.value for k in MixKey)}, shares summing to 1, e.g. "
        "category=translational:0.5,rotational:0.3,counting:0.2"
    )
    key_text, sep, body = spec.partition("=")
    try:
        key = MixKey(key_text.strip())
    except ValueError:
        raise ExportError(f"--mix {spec!r}: unknown field {key_text.strip()!r}. {usage}") from None
    if not sep or not body.strip():
        raise ExportError(f"--mix {spec!r}: no VALUE:SHARE after '='. {usage}")
    known = _known_values(key)
    shares: dict[str, Fraction] = {}
    for part in body.split(","):
        value, colon, share_text = (s.strip() for s in part.partition(":"))
        if not colon or not value:
            raise ExportError(f"--mix {spec!r}: {part.strip()!r} is not VALUE:SHARE. {usage}")
        if known is not None and value not in known:
            raise ExportError(
                f"--mix {spec!r}: {value!r} is no {key.value} (one of {', '.join(known)}). {usage}"
            )
        if value in shares:
            raise ExportError(f"--mix {spec!r}: {value!r} is named twice. {usage}")
        try:
            share = Fraction(share_text)
        except (ValueError, ZeroDivisionError):
            raise ExportError(
                f"--mix {spec!r}: share {share_text!r} is not a number. {usage}"
            ) from None
        if share <= 0:
            raise ExportError(
                f"--mix {spec!r}: share of {value!r} is {share_text}, not above 0. {usage}"
            )
        shares[value] = share
    if sum(shares.values()) != 1:
        raise ExportError(
            f"--mix {spec!r}: the shares sum to {float(sum(shares.values())):g}, not 1. {usage}"
        )
    return Mix(key, shares)


def mix_counts(mix: Mix, available: dict[str, int], size: int | None = None) -> dict[str, int]:
    """How many questions of each value a mix takes: `size` in all (default: the largest the
    available counts allow), split by largest remainders so that every count is within one
    of its exact share. Raises `ExportError` when a share cannot be met."""
    for value in mix.shares:
        if available.get(value, 0) == 0:
            present = ", ".join(f"{v} ({n})" for v, n in sorted(available.items()) if n) or "none"
            raise ExportError(
                f"--mix: no question has {mix.key.value}={value}, so its share cannot be met "
                f"(present: {present}). Fix: drop {value} from --mix, or generate a folder "
                "that has it"
            )
    # The largest total whose exact share of every value fits what there is.
    largest = min(math.floor(available[v] / share) for v, share in mix.shares.items())
    if size is None:
        size = largest
    elif size > largest:
        short = min(mix.shares, key=lambda v: Fraction(available[v]) / mix.shares[v])
        raise ExportError(
            f"--mix: --size {size} needs {float(size * mix.shares[short]):g} questions with "
            f"{mix.key.value}={short} ({float(mix.shares[short]):g} of {size}), and the folder "
            f"has {available[short]}; the largest size this mix allows is {largest}. Fix: pass "
            f"--size {largest} or less, or generate more scenes"
        )
    if size < 1:
        raise ExportError(f"--mix: size {size} selects no question. Fix: pass --size 1 or more")
    exact = {v: size * share for v, share in mix.shares.items()}
    counts = {v: math.floor(x) for v, x in exact.items()}
    # Ties broken by the order the mix names the values, so the result depends on nothing else.
    order = sorted(mix.shares, key=lambda v: -(exact[v] - counts[v]))
    for value in order[: size - sum(counts.values())]:
        counts[value] += 1  # below the value's count: its exact share is not whole, and fits
    return counts


def apply_mix(
    items: Sequence[TrainItem], mix: Mix, seed: int = 0, size: int | None = None
) -> tuple[list[TrainItem], MixReport]:
    """A deterministic draw from `items` with `mix`'s proportions (see `mix_counts`); the
    chosen items keep the folder's order. Values the mix does not name are left out."""
    import numpy as np

    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.value(mix.key), []).append(index)
    available = {value: len(indices) for value, indices in groups.items()}
    counts = mix_counts(mix, available, size)
    chosen: list[int] = []
    for k, (value, count) in enumerate(counts.items()):
        # One generator per value, seeded by its position in the mix: one value's draw does
        # not shift when another's count changes.
        rng = np.random.default_rng([seed, k])
        picked = rng.choice(len(groups[value]), size=count, replace=False)
        chosen.extend(groups[value][i] for i in picked)
    chosen.sort()
    total = sum(counts.values())
    report = MixReport(
        key=mix.key.value,
        requested={v: float(s) for v, s in mix.shares.items()},
        available={v: available.get(v, 0) for v in mix.shares},
        counts=counts,
        achieved={v: round(n / total, 6) for v, n in counts.items()},
        total=total,
    )
    return [items[i] for i in chosen], report


# -- summary and card -------------------------------------------------------------------------


def _counter(values) -> dict[str, int]:
    return dict(sorted(Counter(str(v) for v in values).items()))


def summary(
    examples: Sequence[Example],
    *,
    format: Format | str,
    answer_form: AnswerForm | str,
    prompt_style: str,
    seed: int,
    mix: MixReport | None,
    source: dict[str, Any],
    files: dict[str, str],
    free_form_fallbacks: int = 0,
) -> dict[str, Any]:
    """What an export holds: counts by every mix field, the mix asked for and achieved, how
    many free-form answers are the option text (their record had no `answer_free_form`), and
    where it came from. Same inputs, same summary (no date, no absolute path)."""
    n = len(examples)
    return {
        "made_by": MADE_BY,
        "format": Format(format).value,
        "answer_form": AnswerForm(answer_form).value,
        "prompt_style": prompt_style,
        "splits": _counter(e.split for e in examples),
        "examples": n,
        "videos": len({e.video for e in examples}),
        "seed": seed,
        "by_category": _counter(e.category for e in examples),
        "by_perspective": _counter(e.perspective for e in examples),
        "by_camera_motion": _counter(e.camera_motion for e in examples),
        "by_letter": _counter(e.answer for e in examples),
        "mix": None if mix is None else vars(mix),
        "free_form_fallbacks": free_form_fallbacks,
        "source": source,
        "files": files,
    }


def card_metadata(
    config: str, split: str, data_file: str, num_examples: int, num_bytes: int
) -> dict:
    """The YAML header of the training dataset's card: one config, the default, one split."""
    features = hf_features()._to_yaml_list()
    return {
        "pretty_name": "VLM4D 4D probe training data",
        "license": "mit",
        "language": ["en"],
        "task_categories": ["video-text-to-text", "visual-question-answering"],
        "tags": ["video", "spatiotemporal", "4d", "synthetic", "sft", "vlm4d"],
        "size_categories": [_size_category(num_examples)],
        "configs": [
            {
                "config_name": config,
                "data_files": [{"split": split, "path": data_file}],
                "default": True,
            }
        ],
        "dataset_info": [
            {
                "config_name": config,
                "features": features,
                "splits": [{"name": split, "num_bytes": num_bytes, "num_examples": num_examples}],
            }
        ],
    }


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return name
    return "100K<n<1M"


def train_card(metadata: dict, summary_data: dict, settings: dict | None) -> str:
    """The README.md of the Hugging Face training folder (`data/train_card.jinja`)."""
    from vlm4d_tasks import __version__
    from vlm4d_tasks.data.dataset_repo import _yaml_without_anchors
    from vlm4d_tasks.templating import render

    config = metadata["configs"][0]
    return render(
        "vlm4d_tasks.data",
        "train_card.jinja",
        metadata_yaml=_yaml_without_anchors(metadata).rstrip("\n"),
        config=config["config_name"],
        split=config["data_files"][0]["split"],
        summary=summary_data,
        settings=settings,
        generator_version=__version__,
    )


# -- writing the folder -------------------------------------------------------------------------


@dataclass
class ExportResult:
    out: Path
    files: list[str]
    summary: dict[str, Any]
    moved_aside: Path | None = None
    notes: list[str] = field(default_factory=list)


def _labels_settings(folder: Path) -> dict | None:
    try:
        data = json.loads(read_regular_text(folder / PROBE_LABELS_FILE))
    except (OSError, InputFileError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("settings"), dict):
        return {"version": data.get("version"), **data["settings"]}
    return None


def _dump(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False) + "\n"


def export_train(
    source: str | Path,
    out: str | Path,
    format: Format | str,
    answer_form: AnswerForm | str,
    prompt: PromptFn,
    *,
    prompt_style: str,
    mix: Mix | None = None,
    seed: int = 0,
    size: int | None = None,
    copy_videos: bool = False,
    force: bool = False,
) -> ExportResult:
    """Write the training data of the probe folder `source` to the folder `out`.

    `out` holds the format's files, `export_summary.json` and the selected examples' videos
    under their `video` paths (linked, or copied with `copy_videos`), so that it is
    self-contained: LLaMA-Factory's `dataset_dir` (its `media_dir` defaults to it), LLaVA's
    `--video_folder`, or the dataset folder to load or publish. `out` follows the rules of
    the project's other folder-writing commands (`vlm4d_tasks.data.outdir`).
    """
    import hashlib

    from vlm4d_tasks.data import outdir
    from vlm4d_tasks.data.dataset_repo import BuildError, _place_videos
    from vlm4d_tasks.data.paths import UnsafePathError, contained_path

    source, out = Path(source), Path(out)
    fmt, form = Format(format), AnswerForm(answer_form)
    items = load_train_items(source)
    report = None
    if mix is not None:
        items, report = apply_mix(items, mix, seed=seed, size=size)
    elif size is not None:
        if not 1 <= size <= len(items):
            raise ExportError(
                f"--size {size}: the folder has {len(items)} questions. Fix: pass --size "
                f"1 to {len(items)}, or generate more scenes"
            )
        import numpy as np

        picked = np.random.default_rng([seed]).choice(len(items), size=size, replace=False)
        items = [items[i] for i in sorted(picked)]
    splits = sorted({item.split for item in items})
    if len(splits) > 1:
        raise ExportError(
            f"{source / PROBE_RECORDS_FILE}: field 'split' holds several splits {splits}. "
            "Fix: export each generate-probe folder on its own"
        )
    split = splits[0]
    examples = make_examples(items, form, prompt)
    for e in examples:  # before anything is written: a missing clip makes no example
        where = f"{source / PROBE_RECORDS_FILE}: record {e.question_id}: field 'video'"
        try:
            ok = contained_path(source, e.video).is_file()
        except UnsafePathError as exc:
            raise ExportError(
                f"{where}: {exc}; nothing was written. Fix: regenerate the folder with "
                "`vlm4d generate-probe`"
            ) from None
        if any(part.startswith(".") for part in e.video.split("/")):
            # The output folder's rules: nothing is written under a dot-folder (`outdir`).
            raise ExportError(
                f"{where}: {e.video!r} has a part starting with '.', where the export writes "
                "nothing; nothing was written. Fix: regenerate the folder with "
                "`vlm4d generate-probe`"
            )
        if not ok:
            raise ExportError(
                f"{where}: {source / e.video} is missing; nothing was written. Fix: pass the whole "
                "folder written by `vlm4d generate-probe`, videos included"
            )

    output = outdir.prepare(out, MADE_BY, force)
    resolved = source.resolve()
    if resolved == output.target or output.target in resolved.parents:
        raise ExportError(
            f"--from {source} is --out {out} or inside it, which the export replaces; nothing "
            "was written. Fix: choose an --out that does not hold the probe folder"
        )
    name = f"vlm4d_probe_{split}_{form.value}"
    records_bytes = read_regular_text(source / PROBE_RECORDS_FILE).encode("utf-8")
    origin = {
        "records_file": PROBE_RECORDS_FILE,
        "records_sha256": hashlib.sha256(records_bytes).hexdigest(),
        "generator_settings": _labels_settings(source),
    }
    files: dict[str, str] = {}
    with outdir.staged(output) as tmp:
        if fmt is Format.LLAMAFACTORY:
            files[f"{name}.json"] = _dump(llamafactory_records(examples))
            files[LLAMAFACTORY_INFO_FILE] = _dump(llamafactory_dataset_info(name, f"{name}.json"))
        elif fmt is Format.LLAVA:
            files[f"{name}.json"] = _dump(llava_records(examples))
        for relative, text in files.items():
            outdir.write_new(tmp / relative, text)
        kinds = {
            Format.LLAMAFACTORY: "LLaMA-Factory ShareGPT video data",
            Format.LLAVA: "LLaVA-Video data",
            Format.HF: "Hugging Face dataset",
        }
        described = {
            relative: kinds[fmt] for relative in files if relative != LLAMAFACTORY_INFO_FILE
        }
        if fmt is Format.LLAMAFACTORY:
            described[LLAMAFACTORY_INFO_FILE] = "LLaMA-Factory dataset_info.json entry"
        if fmt is Format.HF:
            from datasets import Dataset

            data_file = f"data/{split}.parquet"
            (tmp / "data").mkdir()
            dataset = Dataset.from_list(hf_rows(examples), features=hf_features())
            dataset.to_parquet(str(tmp / data_file))
            described[data_file] = kinds[fmt]
            described["README.md"] = "dataset card"
        data = summary(
            examples,
            format=fmt,
            answer_form=form,
            prompt_style=prompt_style,
            seed=seed,
            mix=report,
            source=origin,
            files=described,
            free_form_fallbacks=sum(i.answer_free_form is None for i in items)
            if form is AnswerForm.FREE
            else 0,
        )
        if fmt is Format.HF:
            metadata = card_metadata(
                form.value, split, data_file, len(examples), dataset.data.nbytes
            )
            outdir.write_new(
                tmp / "README.md", train_card(metadata, data, origin["generator_settings"])
            )
        outdir.write_new(tmp / SUMMARY_FILE, _dump(data))
        try:
            _, copied = _place_videos(
                [e.record for e in items], source, tmp, copy_videos, [*described, SUMMARY_FILE]
            )
        except BuildError as exc:
            raise ExportError(str(exc)) from None
        outdir.commit(tmp, output, known=copied)
    return ExportResult(
        out=out,
        files=sorted([*described, SUMMARY_FILE]),
        summary=data,
        moved_aside=output.moved_aside,
        notes=output.notes,
    )
