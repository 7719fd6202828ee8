"""Where prepared notifications go: an outbox. Sending mail is a deployment's plug-in; the default writes each
message to a directory, one RFC 5322 file per message (``.eml``, which any mail client opens and any relay can
send), so an air-gapped lab carries them out by its own means and nothing leaves the machine by itself.

Messages are written whole or not at all (a temporary file, flushed, then renamed), named by time and message id so
the order they were prepared in is the order of the names, and never overwritten.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol


class Outbox(Protocol):
    def put(self, message: EmailMessage, prepared_at: datetime) -> str:
        """Hand the message over; returns where it went (a path, a relay's queue id)."""
        ...


class FileOutbox:
    """Messages as ``.eml`` files in ``directory`` (created 0700: messages name vendors and cases)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, message: EmailMessage, prepared_at: datetime) -> str:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        identifier = re.sub(r"[^A-Za-z0-9.-]+", "-", str(message["Message-ID"] or "message")).strip("-")
        name = f"{prepared_at.astimezone(UTC):%Y%m%dT%H%M%S}-{identifier}.eml"
        target = self.directory / name
        temporary = self.directory / f".{name}.tmp"
        # Headers unfolded up to RFC 5322's hard limit: a long subject folded at 78 columns begins its value with a
        # blank, which some clients keep.
        data = message.as_bytes(policy=message.policy.clone(max_line_length=998))
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(temporary, target)  # fails rather than overwrite a message already there
        finally:
            temporary.unlink()
        return str(target)

    def withdraw(self, where: str) -> None:
        """Remove a message :meth:`put` wrote (where it said), if it is still there: the operation that prepared it
        did not happen."""
        path = Path(where)
        if path.parent == self.directory:
            path.unlink(missing_ok=True)

    def messages(self) -> list[Path]:
        """The messages in the outbox, oldest first."""
        return sorted(self.directory.glob("*.eml")) if self.directory.is_dir() else []
