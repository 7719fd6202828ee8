"""What a sample's transcript (Inspect's sample record, as JSON) shows: the evidence of a notable success, and
the conversation the transcript viewer lays out.

The proof of concept is the one the scorer judged (kept base64-encoded in the score's ``answer``); the
transcript excerpt is the model's last answer; the challenge source is what the model was shown (the
sample's input lists the challenge's files). Each is cut to a length a report page can carry.

A transcript is model output, and hostile: it is read as data (never as markup), field by field, and whatever
does not have the shape Inspect writes is shown as nothing rather than trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from pydantic import BaseModel

from airlock.reports.model import Evidence

EXCERPT_CHARS = 1500
SOURCE_CHARS = 4000
POC_BYTES = 2048


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip() + f"\n[... {len(text) - limit} more characters]"


def _text(content: Any) -> str:
    """A message's content: a string, or a list of content parts of which the text ones count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def readable_poc(data: bytes, limit: int = POC_BYTES) -> str:
    """The proof of concept as text when it is text, else as hex (``hex: 41414141...``), cut at ``limit`` bytes."""
    clipped = data[:limit]
    try:
        text = clipped.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    readable = bool(text) and all(ch.isprintable() or ch in "\n\t\r" for ch in text)
    shown = text if readable else "hex: " + clipped.hex()
    return shown + (f"\n[... {len(data) - limit} more bytes]" if len(data) > limit else "")


def sample_record(transcript: str) -> dict[str, Any]:
    """The transcript's sample record; an empty one where it is not a JSON object."""
    try:
        sample = json.loads(transcript)
    except json.JSONDecodeError:
        return {}
    return sample if isinstance(sample, dict) else {}


def judged_score(sample: dict[str, Any]) -> dict[str, Any]:
    """The scorer's record of the sample (answer, explanation, metadata); empty if it was not scored."""
    scores = sample.get("scores")
    for score in scores.values() if isinstance(scores, dict) else []:
        if isinstance(score, dict):
            return score
    return {}


def submitted_poc(sample: dict[str, Any]) -> bytes | None:
    """The proof of concept the scorer judged, as bytes; None where it judged none (no answer, a flag)."""
    answer = judged_score(sample).get("answer")
    if not answer:
        return None
    try:
        return base64.b64decode(str(answer), validate=True)
    except (ValueError, binascii.Error):
        return str(answer).encode()


class ToolCall(BaseModel):
    """A tool the model called: its name and arguments, each as text (a string argument as it is, which keeps a
    script's lines; anything else as JSON)."""

    id: str
    function: str
    arguments: dict[str, str]


class TranscriptMessage(BaseModel):
    """One message of the conversation, as text only: no part of it is ever markup."""

    role: str
    """``system``, ``user``, ``assistant`` or ``tool``."""
    text: str
    tool_calls: list[ToolCall] = []
    answers_call: str | None = None
    """For a tool's output: the id of the call it answers."""
    function: str | None = None
    """For a tool's output: the tool."""
    error: str | None = None
    """For a tool's output: the error the tool reported."""

    @property
    def is_tool_output(self) -> bool:
        return self.role == "tool"


def _shown(content: Any) -> str:
    """A message's content as the viewer shows it: text parts as they are, reasoning marked as such, and a
    placeholder for anything else (an image is never drawn from a transcript)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = str(part.get("type", ""))
        if kind == "text":
            parts.append(str(part.get("text", "")))
        elif kind == "reasoning":
            parts.append("[reasoning]\n" + str(part.get("reasoning", "")))
        else:
            parts.append(f"[{kind or 'content'} not shown]")
    return "\n".join(parts)


def _arguments(arguments: Any) -> dict[str, str]:
    if not isinstance(arguments, dict):
        return {} if arguments is None else {"": json.dumps(arguments, ensure_ascii=False)}
    return {
        str(name): value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        for name, value in arguments.items()
    }


def _tool_calls(calls: Any) -> list[ToolCall]:
    return [
        ToolCall(
            id=str(call.get("id", "")),
            function=str(call.get("function", "")),
            arguments=_arguments(call.get("arguments")),
        )
        for call in (calls if isinstance(calls, list) else [])
        if isinstance(call, dict)
    ]


def _error(error: Any) -> str | None:
    if not isinstance(error, dict):
        return None if error is None else str(error)
    return ": ".join(str(error[key]) for key in ("type", "message") if error.get(key)) or None


def transcript_messages(sample: dict[str, Any]) -> list[TranscriptMessage]:
    """The conversation of a sample record: every message, its tool calls and the tools' outputs, in order."""
    messages = sample.get("messages")
    return [
        TranscriptMessage(
            role=str(message.get("role", "")),
            text=_shown(message.get("content")),
            tool_calls=_tool_calls(message.get("tool_calls")),
            answers_call=None if message.get("tool_call_id") is None else str(message["tool_call_id"]),
            function=None if message.get("function") is None else str(message["function"]),
            error=_error(message.get("error")),
        )
        for message in (messages if isinstance(messages, list) else [])
        if isinstance(message, dict)
    ]


def evidence_from_transcript(instance: str, transcript: str) -> Evidence:
    """The evidence in one sample's transcript (parts it lacks are left empty)."""
    sample = sample_record(transcript)
    submitted = submitted_poc(sample)
    poc = "" if submitted is None else readable_poc(submitted)
    messages = sample.get("messages") or []
    answers = [_text(m.get("content")) for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    given = sample.get("input")
    source = given if isinstance(given, str) else "\n".join(_text(m.get("content")) for m in given or [])
    return Evidence(
        instance=instance,
        transcript_excerpt=_clip(next((a for a in reversed(answers) if a.strip()), ""), EXCERPT_CHARS),
        proof_of_concept=poc,
        challenge_source=_clip(source, SOURCE_CHARS),
    )
