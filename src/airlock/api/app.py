"""The portal's web application: the REST API under ``/api/v1`` and the web pages, one FastAPI app.

Decisions:

* Both front ends are thin: routes call the same services as the CLI, as the caller, and the services'
  access policy decides (see :mod:`airlock.api.auth` for who the caller is).
* **Errors**: under ``/api/`` as RFC 9457 problem details (:mod:`airlock.api.problems`); on pages as a page
  saying the same sentence, or the sign-in page for a visitor who is not signed in.
* **Offline**: the OpenAPI document is served at ``/api/v1/openapi.json``; the interactive documentation
  pages (Swagger UI, ReDoc) are off, because they load scripts from a CDN. Every script and style sheet the
  pages use is served by Airlock from ``/static``.
* **Walls around every request** (:mod:`airlock.api.middleware`): a body over ``AIRLOCK_MAX_REQUEST_BYTES``
  is answered ``413`` before it is read whole, and the connection closed; a token in a URL is refused, and no
  query string reaches the request log (:mod:`airlock.api.access_log`); no answer but a static asset may be
  cached; text no part of Airlock can keep is refused by every route (:mod:`airlock.api.text`).
"""

from __future__ import annotations

import gc
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from airlock import __version__
from airlock.api.access_log import keep_query_strings_out_of_the_access_log
from airlock.api.middleware import BodyLimit, NoStore, RefuseTokensInUrls
from airlock.api.problems import PROBLEM, problem, problem_of
from airlock.api.routes import api_router
from airlock.api.vulns_routes import vulns_router
from airlock.app import Airlock
from airlock.errors import AirlockError
from airlock.web.pages import STATIC_DIRECTORY, error_page, web_router


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def create_app(airlock: Airlock) -> FastAPI:
    """The portal for one open deployment."""
    limit = airlock.settings.max_request_bytes
    app = FastAPI(
        title="Airlock",
        version=__version__,
        description="Pre-release review of frontier AI models: the REST API.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        # A form's text field may be as large as a JSON body's (a model card typed into the submission form);
        # the body as a whole is bounded by BodyLimit.
        form_limits={"max_part_size": limit},
    )
    app.state.airlock = airlock
    app.state.max_request_bytes = limit
    # The last added is the outermost: every answer, refusals included, passes NoStore.
    app.add_middleware(RefuseTokensInUrls)
    app.add_middleware(BodyLimit, max_bytes=limit)
    app.add_middleware(NoStore)
    keep_query_strings_out_of_the_access_log()

    @app.exception_handler(AirlockError)
    async def airlock_error(request: Request, error: AirlockError) -> Response:
        return problem_of(error) if _is_api(request) else error_page(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = f"The request is invalid at {where}: {first.get('msg')}."
        location = first.get("loc", ())
        field = str(location[-1]) if len(location) > 1 else None
        return problem(422, "invalid_request", message, "Correct that field and send the request again.", field)

    app.include_router(api_router(airlock))
    app.include_router(vulns_router(airlock))
    app.include_router(web_router())
    app.mount("/static", StaticFiles(directory=STATIC_DIRECTORY), name="static")

    def document() -> dict[str, Any]:
        """FastAPI's OpenAPI document, with errors under the media type they are sent as (RFC 9457)."""
        if app.openapi_schema is None:
            generated = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for item in generated["paths"].values():
                for operation in item.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if status.startswith(("4", "5")) and "application/json" in content:
                            content[PROBLEM] = content.pop("application/json")
            app.openapi_schema = generated
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app


def from_environment() -> FastAPI:
    """The portal for the deployment the ``AIRLOCK_*`` variables name: each worker process's own."""
    app = create_app(Airlock.open())
    freeze_startup_objects()
    return app


def freeze_startup_objects() -> None:
    """Take what start-up loaded (modules, the app, the ORM's mappers: about 330,000 objects) out of the
    garbage collector's sight before serving; otherwise each request's full collections walk all of them
    (measured by bench/api.py: half of a dashboard request's time)."""
    gc.collect()
    gc.freeze()
