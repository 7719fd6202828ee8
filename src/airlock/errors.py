"""Errors a person can act on.

Every refusal or failure Airlock reports is an :class:`AirlockError`: one sentence saying what went wrong,
and a hint saying what to do next. Front ends print :meth:`AirlockError.diagnostics` and exit with status 1;
they never show a traceback for bad input.

Services speak to every front end at once, so their messages name an input in words ("a reason"), never
as one front end spells it (``--reason``, a form field); the error's ``field`` names the input at fault,
and each front end points at its own spelling of it (the CLI adds its option, a page shows the message
next to the field, the REST API puts ``field`` in the problem).
"""

from __future__ import annotations

from collections.abc import Sequence


class AirlockError(Exception):
    """An operation Airlock refused or could not complete; nothing was changed."""

    kind = "error"
    """A stable machine-readable name for the kind of error (``not_found``, ``invalid_input``, ...)."""
    is_refusal = False
    """Whether the error refuses an operation on policy or lifecycle grounds; refusals are audited."""
    is_integrity_failure = False
    """Whether the error reveals damaged or tampered data; such failures are audited too."""

    def __init__(self, message: str, hint: str | None = None, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field
        """The input at fault, by its name in the services and the REST API (``reason``, ``days``), if one."""

    def __str__(self) -> str:
        return self.diagnostics()

    def diagnostics(self) -> str:
        """What happened and what to do, ready to show to a person."""
        return self.message if self.hint is None else f"{self.message} {self.hint}"


class NotFoundError(AirlockError):
    """The named thing does not exist, or the actor may not learn that it does."""

    kind = "not_found"
    is_refusal = True


class InvalidInputError(AirlockError):
    """A value given by the user is malformed or out of range."""

    kind = "invalid_input"


class PermissionDeniedError(AirlockError):
    """The acting user's role or organisation does not allow the operation."""

    kind = "permission_denied"
    is_refusal = True


class AuthenticationError(AirlockError):
    """A request without valid credentials: no token, an unknown, expired or revoked one."""

    kind = "unauthenticated"


class ThrottledError(AirlockError):
    """Too many failed sign-ins for an account or from one address: wait before trying again."""

    kind = "throttled"


class TransitionError(AirlockError):
    """The review's current state does not allow the requested move."""

    kind = "invalid_transition"
    is_refusal = True


class ConsentRequiredError(AirlockError):
    """The operation changes the review clock and needs the developer's recorded consent."""

    kind = "consent_required"
    is_refusal = True


class ConflictError(AirlockError):
    """Someone else changed the same record at the same time, or it already exists."""

    kind = "conflict"


class ConfigurationError(AirlockError):
    """The deployment's settings are invalid or the deployment is not initialised."""

    kind = "configuration"


class StoreError(AirlockError):
    """The database cannot be reached or its schema cannot be brought up to date."""

    kind = "store"


def yaml_problem(error: Exception) -> str:
    """A YAML parser's error in one line: where (line and column, counted from 1) and what.

    PyYAML's own message spans several lines and quotes the text at fault; an error Airlock shows is one line.
    """
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is None:
        return str(problem)
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def yaml_line(text: str, location: Sequence[object]) -> int | None:
    """The line (counted from 1) of the YAML node at ``location``: mapping keys and sequence indexes, as in
    a pydantic error's ``loc``. Where the path ends early (a missing key), the line of the last node found."""
    import yaml  # here, not at the top: most users of this module never parse YAML

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line
