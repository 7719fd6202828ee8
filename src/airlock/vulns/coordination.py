"""Coordination with the maintainers: each vendor's status in a case, the moves between statuses, and the
notifications the clearinghouse prepares.

A vendor of a case is *unaware* until notified, then *notified*; it *acknowledges*, and ends *fixed* or *not
affected* (a vendor may say so at any point after notification, with its reason). The moves are one table
(:data:`MOVES`), as the review lifecycle's are: anything else is refused in one sentence naming the status and the
moves it allows. A case is ready to disclose when every vendor has ended (fixed or not affected), or when its
disclosure clock (:mod:`.disclosure`) is overdue and the coordinator decides.

A notification is a message prepared for a vendor's contact: it says that the clearinghouse holds a case about
their product, its severity and its deadline, and where to read it; never the proof of concept or the details,
which the contact reads in the portal under the access rules (a mail server or a mailbox is not a vault). It
carries the case's TLP marking in its subject and first line. Sending is a deployment's plug-in; the default
outbox writes each message to a directory (:mod:`.outbox`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum

from airlock.errors import TransitionError
from airlock.review.inputs import unusable_character


class VendorStatus(StrEnum):
    UNAWARE = "unaware"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    FIXED = "fixed"
    NOT_AFFECTED = "not_affected"


MOVES: dict[VendorStatus, frozenset[VendorStatus]] = {
    VendorStatus.UNAWARE: frozenset({VendorStatus.NOTIFIED}),
    VendorStatus.NOTIFIED: frozenset({VendorStatus.ACKNOWLEDGED, VendorStatus.NOT_AFFECTED, VendorStatus.FIXED}),
    VendorStatus.ACKNOWLEDGED: frozenset({VendorStatus.FIXED, VendorStatus.NOT_AFFECTED}),
    VendorStatus.FIXED: frozenset(),
    VendorStatus.NOT_AFFECTED: frozenset(),
}
"""Where each vendor status may go. A fix can come without an acknowledgement (a silent patch)."""
ENDED = frozenset({VendorStatus.FIXED, VendorStatus.NOT_AFFECTED})


def move(current: VendorStatus, to: VendorStatus, *, vendor: str) -> VendorStatus:
    """``to``, if a vendor in ``current`` may move there; otherwise a refusal naming the moves allowed."""
    if to not in MOVES[current]:
        allowed = ", ".join(sorted(MOVES[current])) or "none: it has ended"
        raise TransitionError(
            f"{vendor} is {current.value.replace('_', ' ')} in this case and cannot become "
            f"{to.value.replace('_', ' ')}.",
            f"Moves from {current.value}: {allowed}.",
        )
    return to


def ready_to_disclose(statuses: dict[str, VendorStatus]) -> bool:
    """Whether every vendor of the case has ended (fixed or not affected); a case with no vendor is not ready."""
    return bool(statuses) and all(status in ENDED for status in statuses.values())


@dataclass(frozen=True)
class Notice:
    """What a notification says; the case's confidential content is never part of it."""

    case: str
    """The case's public id (``V-7Q2M4KXA``)."""
    tlp: str
    title: str
    """A title that names the product and the kind of flaw, not how to trigger it."""
    product: str
    severity: str
    """``CVSS 4.0 9.3 (Critical)``, or "not yet scored"."""
    deadline: datetime | None
    portal_url: str
    """Where the contact reads the case (the portal's page of it), after signing in."""


def is_one_mailbox(address: str) -> bool:
    """Whether a mail header reads ``address`` as exactly that one mailbox (``ops,eve@evil.example`` is two: ``ops``
    and ``eve@evil.example``; ``a(note)@example.org`` is ``a@example.org``)."""
    try:
        return Address(addr_spec=address).addr_spec == address
    except (ValueError, HeaderParseError):
        return False


def notification(notice: Notice, *, sender: str, recipient: str, sent_at: datetime, domain: str) -> EmailMessage:
    """The message that tells ``recipient`` (a vendor's contact) about the case. A recipient that is not one mailbox
    (:func:`is_one_mailbox`) is a ValueError: the message goes to the contact alone or is not prepared."""
    if not is_one_mailbox(recipient):
        raise ValueError(f"{recipient!r} is not one mailbox")
    title, product = inert(notice.title), inert(notice.product)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = Address(addr_spec=recipient)
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(idstring=notice.case, domain=domain)
    message["Subject"] = f"[TLP:{notice.tlp}] {notice.case}: {title}"
    deadline = (
        f"The case is set to be disclosed on {notice.deadline:%Y-%m-%d} (UTC), unless you need longer: say so."
        if notice.deadline is not None
        else "No disclosure date is set yet."
    )
    message.set_content(
        f"TLP:{notice.tlp}. Share this only as the marking allows (https://www.first.org/tlp/).\n"
        "\n"
        f"The clearinghouse holds a vulnerability case about {product}: {title}.\n"
        f"Severity: {notice.severity}.\n"
        f"{deadline}\n"
        "\n"
        f"Read the case, its proof of concept and its details in the portal: {notice.portal_url}\n"
        "(this message carries none of them). There you can acknowledge it, tell us it is fixed, or that your\n"
        "product is not affected.\n"
    )
    return message


def inert(text: str) -> str:
    """What a reporter typed (a title, a program's name, a version, a crash's frames) as the clearinghouse shows it, in
    a message or a view: each control or format character written as its escape (``\\x1b``, ``\\u202e``). Whoever
    reads it does so in a terminal, a mail client or a page: an escape sequence would drive the terminal, a line break
    begin a line (or a mail header) that looks like Airlock's own."""
    if unusable_character(text, in_a_name=True) is None:
        return text
    return "".join(
        character.encode("unicode_escape").decode("ascii")
        if unusable_character(character, in_a_name=True)
        else character
        for character in text
    )
