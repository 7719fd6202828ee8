"""How a page's form is answered, and the few fields a page reads itself rather than handing to a service.

A form's route (its user a :data:`~airlock.web.dependencies.FormSender`, so the CSRF token is already
checked) calls the service through :func:`answered`: a refusal shows the page again with the message at the
form that asked and what was typed kept; success shows what follows. Each area's page says what "again" means
for it (the review page, the account page, the directory page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Form
from fastapi.responses import Response

from airlock.errors import AirlockError, AuthenticationError, InvalidInputError, NotFoundError

T = TypeVar("T")

FormText = Annotated[str, Form()]
"""A text field of a form. Each route gives its fields an empty default, so that a missing field reaches the
service, which refuses it in words at that field."""


def answered(
    action: Callable[[], T], refused: Callable[[AirlockError], Response], done: Callable[[T], Response]
) -> Response:
    """How every page's form is answered: the service called; a refusal shows the page again (``refused``:
    the message at the form, what was typed kept), success what follows (``done``). Not being signed in, or
    asking about something that does not exist, goes to the error page (which redirects to sign-in for the
    first).
    """
    try:
        result = action()
    except (AuthenticationError, NotFoundError):
        raise
    except AirlockError as error:
        return refused(error)
    return done(result)


def whole_number(text: str, what: str, field: str) -> int | None:
    """A form's number field: empty is None; anything but a whole number is refused at that field."""
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInputError(f"{what} must be a whole number, not {text.strip()[:20]!r}.", field=field) from None


def require_typed_twice(password: str, repeated: str) -> None:
    """A new password is typed twice, and both must be the same (the sign-in page's and the account page's)."""
    if password != repeated:
        raise InvalidInputError("The two new passwords differ.", "Type the same one twice.", field="repeated")
