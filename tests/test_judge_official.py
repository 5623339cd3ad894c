"""`--judge-prompt official`: the VLM4D evaluation code's judge messages, schema and settings,
sent to a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from _judge_server import Action, ScriptedChatServer

from vlm4d_tasks.metric.judge import (
    OFFICIAL_RESPONSE_FORMAT,
    Judge,
    JudgeItem,
    JudgeSettings,
    build_prompt,
    request_body,
    system_prompt,
)
from vlm4d_tasks.metric.judge_cache import JudgeCache
from vlm4d_tasks.metric.judge_transport import JudgeConfigError

# Copied literally from utils/eval_utils.py of github.com/ShijieZhou-UCLA/VLM4D (MIT licence).
INSTRUCTION = """Your task is to evaluate whether the model's final answer is correct by comparing it to the ground-truth answer provided for the given question.

You should first extract the final answer from the model's response, and then compare the extracted answer with the choice that matches the ground-truth answer to determine its correctness.
"""

MULTI_CHOICE_INSTRUCTION = (
    INSTRUCTION
    + "Output your response in the following structured format:\n"
    + """{
    "extracted_answer": // str value "A" "B" "C" "D", followed by a colon and the corresponding answer text, e.g., "A: Answer A text". If the model's response does not contain a valid choice and reasoning, then "No Valid Answer".
    "correct": // boolean value, True if the extracted answer matches the ground-truth answer (correct choice), False otherwise ("No Valid Answer" is also considered False).
}
"""
)  # noqa: E501


def official_message(example, response):
    """prepare_evaluation_message of the official code, for a multiple-choice example."""
    optionized_list = [
        f"{key}: {value}" for i, (key, value) in enumerate(example["choices"].items())
    ]
    optionized_str = "\n".join(optionized_list)
    question_context = f"Question: {example['question']}\n\nOptions:\n{optionized_str}"
    gt_answer = f"Ground Truth Answer: {example['answer']}"
    model_response = f"Model Response to the Question: {response}"
    user_prompt = f"{question_context}\n\n{gt_answer}\n\n{model_response}"
    return [
        {"role": "system", "content": MULTI_CHOICE_INSTRUCTION},
        {"role": "user", "content": user_prompt},
    ]


EXAMPLE = {
    "id": "validation_3",
    "question": "How many times does the goat jump to the left?",
    "choices": {"A": 0, "B": 1, "C": 2, "D": 3},
    "answer": 2,
}
RESPONSE = "The goat jumps twice.\nTherefore, the final answer is: C\n"


def _item(example=EXAMPLE, response=RESPONSE) -> JudgeItem:
    options = [str(v) for v in example["choices"].values()]
    answer = str(example["answer"])
    return JudgeItem(example["id"], example["question"], options, response,
                     "ABCD"[options.index(answer)], answer)  # fmt: skip


def test_messages_equal_the_official_ones_byte_for_byte():
    item = _item()
    messages = [
        {"role": "system", "content": system_prompt("official")},
        {"role": "user", "content": build_prompt(item, "official")},
    ]
    assert messages == official_message(EXAMPLE, RESPONSE)
    # ours is unchanged and has no system message
    assert system_prompt("vlm4d") is None and "<<<RESPONSE" in build_prompt(item)


@pytest.mark.parametrize(
    "model, tokens_field", [("gpt-4.1", "max_tokens"), ("o4-mini", "max_completion_tokens")]
)
def test_official_body(model, tokens_field):
    settings = JudgeSettings(model=model, base_url="http://127.0.0.1:9/v1", prompt="official")
    body = request_body(settings, "the user message")
    assert body["messages"][0] == {"role": "system", "content": MULTI_CHOICE_INSTRUCTION}
    assert body["messages"][1] == {"role": "user", "content": "the user message"}
    assert (body["temperature"], body["top_p"], body[tokens_field]) == (1.0, 1.0, 1024)
    assert body["response_format"] == OFFICIAL_RESPONSE_FORMAT
    schema = body["response_format"]["json_schema"]["schema"]
    assert schema["properties"] == {
        "extracted_answer": {"type": "string", "title": "Extracted Answer"},
        "correct": {"type": "boolean", "title": "Correct"},
    }


def test_unknown_prompt_style_is_a_config_error(monkeypatch):
    with pytest.raises(JudgeConfigError, match="prompt"):
        JudgeSettings(model="m", prompt="mine")
    monkeypatch.setenv("VLM4D_JUDGE_PROMPT", "official")
    assert JudgeSettings.resolve("m").prompt == "official"


def test_endpoint_without_structured_output_falls_back_to_json_text(tmp_path):
    verdict = json.dumps({"extracted_answer": "C: 2", "correct": True})

    def script(body, n):
        if "response_format" in body:
            return Action(status=400, content=None, body=json.dumps(
                {"error": {"message": "Unsupported parameter: 'response_format'"}}).encode())  # fmt: skip
        return Action(content=verdict)

    with ScriptedChatServer(script) as server:
        s = JudgeSettings(model="local-judge", base_url=server.url, prompt="official",
                          backoff_base=0.01)  # fmt: skip
        outcome = Judge(s, JudgeCache(tmp_path / "c.sqlite")).judge(_item())
    assert outcome.resolved and outcome.letter == "C"
    assert len(server.requests) == 2 and "response_format" not in server.requests[1]


@pytest.mark.subprocess
def test_score_cli_sends_the_official_messages(tmp_path):
    path = tmp_path / "real_mc_cot" / "m.json"
    path.parent.mkdir()
    entry = {**EXAMPLE, "response": RESPONSE}
    path.write_text(json.dumps([entry]))
    verdict = json.dumps({"extracted_answer": "C: 2", "correct": True})
    with ScriptedChatServer(lambda body, n: Action(content=verdict)) as server:
        env = {**os.environ, "VLM4D_JUDGE_MODEL": "local-judge", "VLM4D_JUDGE_BASE_URL": server.url,
               "VLM4D_CACHE_DIR": str(tmp_path / "cache")}  # fmt: skip
        out = tmp_path / "s.json"
        done = subprocess.run(
            [sys.executable, "-m", "vlm4d_tasks.cli", "score", str(path), "--judge", "llm",
             "--judge-prompt", "official", "--no-progress", "--json", str(out)],
            capture_output=True, text=True, timeout=300, env=env,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [body] = server.requests
    assert body["messages"] == official_message(EXAMPLE, RESPONSE)
    assert body["response_format"] == OFFICIAL_RESPONSE_FORMAT and body["temperature"] == 1.0
    score = json.loads(out.read_text())
    assert score["judge"]["prompt"] == "official"
    assert score["runs"][0]["accuracy"] == 1.0
