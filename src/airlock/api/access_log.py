"""The request log ``airlock serve`` writes (uvicorn's access log), without query strings.

A query string is whatever a client put in the URL, secrets included: an API token pasted where it does not
belong (refused, see :class:`airlock.api.middleware.RefuseTokensInUrls`, but logged before that), a
password in a misdirected form. The log keeps the path and marks that a query was there (``?…``); which
review a user worked on is in the audit log, not here.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"
QUERY_MARK = "?\u2026"


class WithoutQueryStrings(logging.Filter):
    """Cuts the query string off every path in a log record's arguments (uvicorn passes the request's path
    with its query as one argument: ``'%s - "%s %s HTTP/%s" %d'``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_without_query(argument) for argument in record.args)
        return True


def _without_query(argument: object) -> object:
    if isinstance(argument, str) and argument.startswith("/") and "?" in argument:
        return argument.split("?", 1)[0] + QUERY_MARK
    return argument


def keep_query_strings_out_of_the_access_log() -> None:
    """Install :class:`WithoutQueryStrings` on uvicorn's access logger (once per process)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(installed, WithoutQueryStrings) for installed in logger.filters):
        logger.addFilter(WithoutQueryStrings())
