"""What a run records of a declared decoding: applied only when the model class is known to hand
the setting to its backend (`protocol_run.GENERATION_KWARGS`, read from the installed lmms-eval),
not applied when it is known not to (with why), passed but unverified otherwise.

Pure tests: `describe_run` on what lmms-eval would pass, and the table's citations checked
against the installed lmms-eval's own source lines (no model is loaded, lmms-eval is not
imported).
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import version
from pathlib import Path

import pytest

DSR_ROW = (
    "vlm4d_mc_dsr_suite"  # DSR Suite's decoding: temperature 0.4, top_p 0.9, top_k 5, 20 tokens
)


def _declared(model_class, gen_kwargs="", model_args="pretrained=q", **kwargs):
    from vlm4d_tasks.lmms.protocol_run import describe_run

    block = describe_run([DSR_ROW], gen_kwargs, None, model_args, model_class=model_class,
                         **kwargs)  # fmt: skip
    return block, block["declared"]["dsr-suite"]


def test_a_class_that_drops_top_k_records_it_as_not_applied_with_why():
    from vlm4d_tasks.lmms.protocol_run import markdown_line

    block, declared = _declared("qwen2_vl")
    assert declared["differs"] == {}  # the task passed every declared value
    top_k = declared["not_applied"]["decoding.top_k"]
    assert (top_k["run"], top_k["declared"]) == (5, 5)
    assert "'qwen2_vl'" in top_k["why"] and "simple/qwen2_vl.py:412-421" in top_k["why"]
    assert "decoding.top_k" not in declared["applied"]
    assert "decoding.top_k" not in declared["passed_unverified"]
    # the keys it does hand on are applied, each with the line that does it
    assert declared["applied"]["decoding.temperature"] == 0.4
    assert declared["applied"]["decoding.top_p"] == 0.9
    assert declared["applied"]["decoding.max_new_tokens"] == 20
    assert declared["applied_evidence"]["decoding.top_p"].endswith("simple/qwen2_vl.py:418")
    # do_sample is not read: the class samples because temperature 0.4 > 0, as declared
    assert declared["applied"]["decoding.do_sample"] is True
    assert "temperature 0.4" in declared["applied_evidence"]["decoding.do_sample"]
    line = markdown_line(block)
    assert "passed but not applied by the model class (the metadata says why): top_k." in line


def test_an_unknown_class_records_what_it_passed_as_unverified():
    from vlm4d_tasks.lmms.protocol_run import markdown_line

    block, declared = _declared("my_plugin_model")
    keys = {"decoding.do_sample", "decoding.temperature", "decoding.top_p", "decoding.top_k",
            "decoding.max_new_tokens"}  # fmt: skip
    assert set(declared["passed_unverified"]) == keys
    assert not keys & set(declared["applied"]) and not keys & set(declared["not_applied"])
    assert declared["passed_unverified"]["decoding.top_k"]["run"] == 5
    assert "'my_plugin_model'" in declared["passed_unverified"]["decoding.top_k"]["why"]
    assert "not known to reach the model" in markdown_line(block)
    # no model class recorded at all: the same
    _, declared = _declared(None)
    assert set(declared["passed_unverified"]) == keys


def test_the_chat_qwen2_5_vl_forwards_top_k_and_its_simple_class_does_not():
    _, chat = _declared("qwen2_5_vl")
    assert chat["applied"]["decoding.top_k"] == 5
    assert chat["applied_evidence"]["decoding.top_k"].endswith("chat/qwen2_5_vl.py:149")
    _, simple = _declared("qwen2_5_vl", force_simple=True)
    assert "decoding.top_k" not in simple["applied"]
    assert "simple/qwen2_5_vl.py:334-344" in simple["not_applied"]["decoding.top_k"]["why"]


def test_another_lmms_eval_version_verifies_nothing():
    _, declared = _declared("qwen2_vl", lmms_eval_version="9.9.9")
    assert "decoding.top_k" in declared["passed_unverified"]
    assert "9.9.9" in declared["passed_unverified"]["decoding.top_k"]["why"]
    assert not any(k.startswith("decoding.") for k in declared["applied"])


def test_sampling_follows_temperature_whatever_do_sample_says():
    # do_sample=True asked, temperature 0 given: qwen2_vl decodes greedily
    _, declared = _declared("qwen2_vl", gen_kwargs="temperature=0")
    assert declared["differs"]["temperature"] == {"run": 0, "declared": 0.4}
    sample = declared["not_applied"]["decoding.do_sample"]
    assert "samples exactly when temperature > 0" in sample["why"]
    assert "do_sample=False" in sample["why"]


def test_vllm_takes_the_larger_token_limit_unless_the_model_argument_is_set():
    _, declared = _declared("vllm")
    tokens = declared["not_applied"]["decoding.max_new_tokens"]
    assert "20 and 4096 give 4096" in tokens["why"]
    assert "`--model_args max_new_tokens=20`" in tokens["why"]
    assert declared["applied"]["decoding.top_k"] == 5  # SamplingParams take top_k
    _, declared = _declared("vllm", model_args="model=q,max_new_tokens=20")
    assert declared["applied"]["decoding.max_new_tokens"] == 20


def test_the_baselines_record_every_decoding_setting_as_not_applied():
    for name in ("vlm4d_random", "vlm4d_prior", "vlm4d_replay"):
        _, declared = _declared(name)
        assert not any(k.startswith("decoding.") for k in declared["applied"]), name
        why = declared["not_applied"]["decoding.top_k"]["why"]
        assert "answers without decoding" in why and f"models/{name}.py" in why


def test_the_run_metadata_passes_the_class_implementation_and_lmms_eval_version(monkeypatch):
    import argparse

    from vlm4d_tasks.lmms import run as lmms_run

    monkeypatch.delenv("VLM4D_JUDGE", raising=False)
    monkeypatch.delenv("VLM4D_PROTOCOL_MODEL", raising=False)
    args = argparse.Namespace(model="qwen2_5_vl", model_args="pretrained=q", gen_kwargs="",
                              seed=None, limit=None, output_path=None, force_simple=True)  # fmt: skip
    run = lmms_run.current_run(args)
    run.rows[DSR_ROW] = {}
    declared = run.metadata()["protocol"]["declared"]["dsr-suite"]
    assert "decoding.top_k" in declared["not_applied"]  # the simple class, as --force_simple
    assert version("lmms_eval") in declared["decoding_checked_against"]


# --------------------------------------------------------------------------------------------
# The table's citations, against the installed lmms-eval


def _models_folder() -> Path:
    spec = importlib.util.find_spec("lmms_eval")  # locates the package without importing it
    assert spec is not None and spec.origin
    return Path(spec.origin).parent / "models"


# What a forwarding line names for a key (the APIs rename the token limit).
_NAMES = {"max_new_tokens": ("max_new_tokens", "max_tokens", "max_output_tokens")}


def _lines(where: str) -> str:
    path, _, span = where.rpartition(":")
    first, _, last = span.partition("-")
    root = Path(__file__).resolve().parents[1] if path.startswith("vlm4d_tasks/") else None
    file = (root / path) if root else _models_folder() / path
    lines = file.read_text(encoding="utf-8").splitlines()
    return "\n".join(lines[int(first) - 1 : int(last or first)])


def test_every_cited_line_of_the_installed_lmms_eval_says_what_the_table_says():
    from vlm4d_tasks.lmms import protocol_run as p

    if version("lmms_eval") != p.LMMS_EVAL_READ:
        pytest.skip(f"the table was read from lmms-eval {p.LMMS_EVAL_READ}")
    checked = 0
    for (name, impl), found in p.GENERATION_KWARGS.items():
        if not found.decodes:
            assert "_gen_kwargs" in _lines(found.file), name  # read into a name never used
            continue
        assert set(found.keys) == {"do_sample", "temperature", "top_p", "top_k",
                                   "max_new_tokens"}, (name, impl)  # fmt: skip
        for key, handling in found.keys.items():
            text = _lines(handling.where)
            at = (name, impl, key, handling.where)
            if handling.how == p.DROPS:
                assert key not in text, at
            elif handling.how == p.FROM_TEMPERATURE:
                assert "temperature" in text, at
            elif handling.how == p.FORWARDS and "**gen_kwargs" in text:
                pass  # every key the class did not pop (llava_onevision)
            else:
                assert any(n in text for n in _NAMES.get(key, (key,))), at
            checked += 1
    assert checked >= 60
    # the limits the table uses, where lmms-eval sets them
    assert "max_new_tokens: int = 4096" in _lines("chat/vllm.py:39")
    assert "max_new_tokens: int = 4096" in _lines("chat/vllm_generate.py:55")
    assert "max_new_tokens: int = 1024" in _lines("simple/vllm.py:164")
    assert "4096" in _lines("simple/claude.py:198-199")
