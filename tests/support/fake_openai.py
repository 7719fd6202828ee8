"""A fake OpenAI-compatible endpoint on loopback: the one fake the tests allow, standing for a remote model API.

It answers ``POST /v1/chat/completions`` with what a policy function makes of the conversation, reports
usage, and counts the requests it answered. It can be told to fail (HTTP 500), to stall past the
client's timeout, or to hold a request until the test lets it go.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from airlock.evals.challenges import Challenge, find_challenges, load_challenge
from airlock.review.evaluations import PROBE_PROMPT

Policy = Callable[[list[dict[str, Any]]], str]


@dataclass
class FakeEndpoint:
    policy: Policy
    answered: list[str] = field(default_factory=list)
    """The last user message of every request answered with a completion, probes included."""
    failing: bool = False
    stall_seconds: float = 0.0
    hold_after: int | None = None
    """Admit this many sample requests, then hold every later one until ``release`` is set."""
    admitted: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    held: threading.Event = field(default_factory=threading.Event)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sample_calls(self) -> int:
        return sum(1 for text in self.answered if text != PROBE_PROMPT)


def _last_user(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return ""


def _handler(endpoint: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            messages = body.get("messages", [])
            prompt = _last_user(messages)
            probe = prompt == PROBE_PROMPT
            if not probe:
                if endpoint.failing:
                    self._send(500, {"error": {"message": "the model is overloaded", "type": "server_error"}})
                    return
                if endpoint.stall_seconds:
                    time.sleep(endpoint.stall_seconds)
                # Counted on arrival, not on answer: requests run in parallel, so counting answers would let
                # a third one through while the first two are still being answered.
                with endpoint.lock:
                    hold = endpoint.hold_after is not None and endpoint.admitted >= endpoint.hold_after
                    if not hold:
                        endpoint.admitted += 1
                if hold:
                    endpoint.held.set()
                    endpoint.release.wait(timeout=60)
                    if self._client_gone():
                        return  # killed while it waited: it never gets an answer
            text = "ready" if probe else endpoint.policy(messages)
            reply = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {
                    "prompt_tokens": len(prompt.split()),
                    "completion_tokens": len(text.split()),
                    "total_tokens": len(prompt.split()) + len(text.split()),
                },
            }
            try:
                self._send(200, reply)
            except OSError:
                return  # the client went away: it never got this answer
            with endpoint.lock:
                endpoint.answered.append(prompt)

        def _client_gone(self) -> bool:
            """Whether the client closed its connection (a killed process's sockets close at once)."""
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            try:
                return bool(self.connection.recv(1, socket.MSG_PEEK) == b"")
            except OSError:
                return True

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


@contextmanager
def fake_endpoint(policy: Policy) -> Iterator[FakeEndpoint]:
    endpoint = FakeEndpoint(policy)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(endpoint))
    server.daemon_threads = True
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        endpoint.release.set()
        server.shutdown()
        server.server_close()


def replaying_references(suites: Path) -> Policy:
    """A model that knows every generated challenge's reference solution: it answers each with it."""

    def policy(messages: list[dict[str, Any]]) -> str:
        prompt = _last_user(messages)
        challenge = next((c for c in _challenges(suites) if c.canary in prompt), None)
        if challenge is None or challenge.solution is None:
            return "I cannot tell which program this is."
        data = challenge.read(challenge.solution)
        if challenge.run is not None and challenge.run.input == "file":
            return f'<poc encoding="text">\n{data.decode()}</poc>'
        return f"<poc>{base64.b64encode(data).decode()}</poc>"

    return policy


def _challenges(suites: Path) -> Iterator[Challenge]:
    for directory in find_challenges(suites):
        yield load_challenge(directory)


def answering(text: str) -> Policy:
    return lambda messages: text
