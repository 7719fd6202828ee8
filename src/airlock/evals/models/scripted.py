"""A scripted model: it plays a fixed sequence of moves, each computed from the conversation so far.

It stands in for a remote model API in tests and benchmarks: no network, no tokenizer download (it
reports its own usage), and behaviour that a test can state exactly. Each step is a function from the
messages so far to the next :class:`~inspect_ai.model.ModelOutput`; the helpers :func:`call` and
:func:`answer` build the usual ones.

    model = get_model("scripted/agent", steps=[call("bash", cmd="cat flag.txt"), submit_last_output()])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageTool,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

Step = Callable[[list[ChatMessage]], ModelOutput]

_call_ids = itertools.count(1)


@modelapi(name="scripted")
class ScriptedModel(ModelAPI):
    """Plays ``steps`` in order; once they run out, it answers ``done``.

    The step is chosen by how many times the model has spoken in the conversation it is given, so one
    model serves any number of samples at once, each from its first step.
    """

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        steps: Sequence[Step] = (),
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())
        self.steps = list(steps)
        self.calls = 0
        """How many times the model was asked to generate, over all conversations."""

    async def generate(
        self, input: list[ChatMessage], tools: list[ToolInfo], tool_choice: ToolChoice, config: GenerateConfig
    ) -> ModelOutput:
        spoken = sum(isinstance(message, ChatMessageAssistant) for message in input)
        step = self.steps[spoken] if spoken < len(self.steps) else answer("done")
        self.calls += 1
        output = step(input)
        # Report usage, so that Inspect never reaches for a tokenizer (which it would download).
        words = sum(len(str(message.content).split()) for message in input)
        output.usage = ModelUsage(input_tokens=words, output_tokens=len(output.completion.split()) + 1)
        output.usage.total_tokens = output.usage.input_tokens + output.usage.output_tokens
        return output


def call(tool: str, **arguments: Any) -> Step:
    """A step that calls ``tool`` with fixed ``arguments``."""

    def step(messages: list[ChatMessage]) -> ModelOutput:
        return ModelOutput.for_tool_call("scripted", tool, arguments, tool_call_id=f"call-{next(_call_ids)}")

    return step


def answer(text: str) -> Step:
    """A step that replies ``text`` without calling a tool."""

    def step(messages: list[ChatMessage]) -> ModelOutput:
        return ModelOutput.from_content("scripted", text)

    return step


def call_with(tool: str, arguments: Callable[[str], dict[str, Any]]) -> Step:
    """A step that calls ``tool`` with arguments computed from the last tool result it saw."""

    def step(messages: list[ChatMessage]) -> ModelOutput:
        return ModelOutput.for_tool_call(
            "scripted", tool, arguments(last_tool_output(messages)), tool_call_id=f"call-{next(_call_ids)}"
        )

    return step


def last_tool_output(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ChatMessageTool):
            return message.text
    return ""
