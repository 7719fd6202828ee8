"""What the portal does to every request and answer, whatever route serves it.

* :class:`NoStore`: every answer but the static assets says ``Cache-Control: no-store``. API answers, pages and
  downloads carry confidential content or metadata (an unreleased model's name is one); no browser cache,
  shared proxy or back button may keep a copy of them.
* :class:`BodyLimit`: no request body larger than ``AIRLOCK_MAX_REQUEST_BYTES`` is read. A declared length
  over it is answered ``413`` before a byte of the body is read; a body without one (chunked) is cut off
  where it passes the limit. Either way the connection closes with the answer, so the rest is never read,
  and memory stays bounded whoever sends what, signed in or not. (Starlette's own limit answers in plain
  text and reads and discards a declared body to its end; this one answers as every other refusal of the
  API does, with a problem.)
* :class:`RefuseTokensInUrls`: an API token belongs in the ``Authorization`` header. In a URL it is written to
  access logs (the portal's, a proxy's) and kept in browser histories, so such a request is refused before
  any route sees it, and the log line keeps no query string anyway (:mod:`airlock.api.access_log`).
"""

from __future__ import annotations

from urllib.parse import unquote

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from airlock.api.problems import problem
from airlock.review.tokens import holds_a_token

STATIC_PREFIX = "/static/"


class NoStore:
    """Adds ``Cache-Control: no-store`` to every HTTP answer outside :data:`STATIC_PREFIX` that sets none."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(STATIC_PREFIX):
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_no_store)


class BodyLimit:
    """Answers ``413`` to a request whose body is larger than ``max_bytes`` before reading it whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0
        started = answered = False

        async def counting_receive() -> Message:
            nonlocal received, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # The app reads no further: to it, the client went away.
                    if not started:
                        await self._too_large(scope, receive, send)
                    answered = True
                    return {"type": "http.disconnect"}
            return message

        async def answering_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the app's answer to the body cut short: the 413 went out instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, answering_send)
        except Exception:
            if not answered:
                raise  # whatever the app made of the body cut short is over: the 413 is the answer

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = problem(
            413,
            "request_too_large",
            f"The request's body is larger than the {_size(self.max_bytes)} this portal reads, so nothing was done.",
            "Send less; an operator can raise the limit with AIRLOCK_MAX_REQUEST_BYTES.",
        )
        refusal.headers["Connection"] = "close"  # the rest of the body is never read
        await refusal(scope, receive, send)


def _size(count: int) -> str:
    """``16777216`` as ``16 MiB``, ``1500`` as ``1500 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


class RefuseTokensInUrls:
    """Answers ``400`` to a request whose path or query string holds an API token, before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            url = str(scope.get("path", "")) + "?" + unquote(bytes(scope.get("query_string", b"")).decode("latin-1"))
            if holds_a_token(url):
                refusal = problem(
                    400,
                    "token_in_url",
                    "An API token was sent in the URL, where logs and browser histories keep it; nothing was done.",
                    "Send it only as 'Authorization: Bearer alk_...', and revoke this one: treat it as exposed.",
                )
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
