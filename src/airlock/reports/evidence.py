"""Evidence of a notable success, taken from the sample's transcript (Inspect's sample record, as JSON).

The proof of concept is the one the scorer judged (kept base64-encoded in the score's ``answer``); the
transcript excerpt is the model's last answer; the challenge source is what the model was shown (the
sample's input lists the challenge's files). Each is cut to a length a report page can carry.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

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


def readable_poc(data: bytes) -> str:
    """The proof of concept as text when it is text, else as hex (``hex: 41414141...``)."""
    clipped = data[:POC_BYTES]
    try:
        text = clipped.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    readable = bool(text) and all(ch.isprintable() or ch in "\n\t\r" for ch in text)
    shown = text if readable else "hex: " + clipped.hex()
    return shown + (f"\n[... {len(data) - POC_BYTES} more bytes]" if len(data) > POC_BYTES else "")


def evidence_from_transcript(instance: str, transcript: str) -> Evidence:
    """The evidence in one sample's transcript (parts it lacks are left empty)."""
    try:
        sample = json.loads(transcript)
    except json.JSONDecodeError:
        sample = {}
    if not isinstance(sample, dict):
        sample = {}
    poc = ""
    for score in (sample.get("scores") or {}).values():
        answer = score.get("answer") if isinstance(score, dict) else None
        if answer:
            try:
                poc = readable_poc(base64.b64decode(answer, validate=True))
            except (ValueError, binascii.Error):
                poc = readable_poc(str(answer).encode())
            break
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
