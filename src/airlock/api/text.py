"""Text no part of Airlock can keep, refused where it enters the portal.

JSON allows an unpaired surrogate (``"\\ud800"``) and forms allow NUL (``%00``); neither can be written as
UTF-8 nor stored by PostgreSQL, so a service that kept such a value, quoted it in a message or an audit entry,
or sent it back would fail half-way (a server error). Every route of the portal is a :class:`CheckedTextRoute`:
before the route's own parsing it checks each path parameter, query parameter and JSON or form value, and
refuses the request (``422``, naming the field) if one holds such a character. Names and identifiers are held
to more (no control or direction-changing character) by the services' own input checks
(:mod:`airlock.review.inputs`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from airlock.errors import InvalidInputError
from airlock.review.inputs import shorten, unusable_character

_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
_DEFAULT_PART_SIZE = 1024 * 1024  # Starlette's, for an app that sets no limit of its own


class CheckedTextRoute(APIRoute):
    """An API route or page that refuses unstorable text before it runs (see the module's docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            await refuse_unstorable_text(request)
            return await handler(request)

        return checked


async def refuse_unstorable_text(request: Request) -> None:
    """:class:`InvalidInputError` for the first value of ``request`` holding NUL or an unpaired surrogate.

    The body is read here (Starlette keeps it for the route) only when it is JSON or a form; one that is not
    valid JSON is left for the route to refuse with its own message.
    """
    for name, value in request.path_params.items():
        _refuse("path parameter", name, str(value), name)
    for name, value in request.query_params.multi_items():
        _refuse("query parameter", name, name + value, name)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type in _FORMS:
        # Parsed as the route will (it gets this very form): a field may be as large as the whole body.
        form = await request.form(max_part_size=getattr(request.app.state, "max_request_bytes", _DEFAULT_PART_SIZE))
        for name, item in form.multi_items():
            if isinstance(item, str):  # not an uploaded file: its bytes are the service's to judge
                _refuse("form field", name, name + item, name)
    elif content_type == "application/json" or content_type.endswith("+json"):
        body = await request.body()
        try:
            document = json.loads(body) if body else None
        except (ValueError, UnicodeDecodeError):
            return
        for location, text in _strings(document, ()):
            _refuse("field", ".".join(location) or "body", text, location[0] if location else None)


def _refuse(kind: str, where: str, text: str, field: str | None) -> None:
    """Refuse ``text``, found at ``where``, if it holds what no text may; ``field`` names the input at fault
    for the answer (a JSON body's top-level field)."""
    found = unusable_character(text, in_a_name=False)
    if found is not None:
        # Names are quoted escaped: they may hold the character themselves (a JSON key, say).
        raise InvalidInputError(
            f"The request's {kind} {shorten(where, 64)} holds a NUL or unpaired surrogate character ({found}), "
            "which no text may hold.",
            "Send it again as valid text (UTF-8 without NUL).",
            field=None if field is None else shorten(field, 64),
        )


def _strings(document: Any, location: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every string of a JSON document with where it is (``("artefacts", "0")``); a key counts as part of the
    value under it."""
    if isinstance(document, str):
        yield location, document
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from _strings(item, (*location, str(index)))
    elif isinstance(document, dict):
        for key, item in document.items():
            yield (*location, key), key
            yield from _strings(item, (*location, key))
