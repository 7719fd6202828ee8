"""Coordination: a vendor's status moves only as the table allows, a case is ready to disclose when every vendor has
ended, and a notification tells a contact where to read the case, marked with its TLP, without its content."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airlock.errors import TransitionError
from airlock.vulns.coordination import Notice, VendorStatus, move, notification, ready_to_disclose
from airlock.vulns.outbox import FileOutbox

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def test_a_vendor_goes_from_unaware_to_fixed_and_no_other_way() -> None:
    status = VendorStatus.UNAWARE
    for step in (VendorStatus.NOTIFIED, VendorStatus.ACKNOWLEDGED, VendorStatus.FIXED):
        status = move(status, step, vendor="Example Maintainers")
    assert status is VendorStatus.FIXED
    assert move(VendorStatus.NOTIFIED, VendorStatus.FIXED, vendor="v") is VendorStatus.FIXED, "a silent fix"
    with pytest.raises(TransitionError, match="Example is unaware in this case and cannot become acknowledged"):
        move(VendorStatus.UNAWARE, VendorStatus.ACKNOWLEDGED, vendor="Example")
    with pytest.raises(TransitionError, match="cannot become notified") as refused:
        move(VendorStatus.FIXED, VendorStatus.NOTIFIED, vendor="Example")
    assert "none: it has ended" in (refused.value.hint or "")


def test_a_case_is_ready_to_disclose_when_every_vendor_has_ended() -> None:
    assert not ready_to_disclose({})
    assert not ready_to_disclose({"a": VendorStatus.FIXED, "b": VendorStatus.ACKNOWLEDGED})
    assert ready_to_disclose({"a": VendorStatus.FIXED, "b": VendorStatus.NOT_AFFECTED})


def notice() -> Notice:
    return Notice(
        case="V-7Q2M4KXA",
        tlp="AMBER",
        title="Heap buffer overflow in notes' page decoder",
        product="notes 1.4.1",
        severity="CVSS 4.0 9.3 (Critical)",
        deadline=NOW + timedelta(days=90),
        portal_url="https://clearinghouse.lab.example/vulns/V-7Q2M4KXA",
    )


def test_a_notification_goes_to_the_file_outbox_whole_marked_and_pointing_to_the_portal(tmp_path: Path) -> None:
    outbox = FileOutbox(tmp_path / "outbox")
    message = notification(
        notice(),
        sender="clearinghouse@lab.example",
        recipient="security@vendor.example",
        sent_at=NOW,
        domain="lab.example",
    )
    where = outbox.put(message, NOW)
    second = outbox.put(
        notification(
            notice(), sender="c@lab.example", recipient="psirt@vendor.example", sent_at=NOW, domain="lab.example"
        ),
        NOW + timedelta(seconds=1),
    )
    assert [str(path) for path in outbox.messages()] == [where, second], "in the order they were prepared"
    assert oct((tmp_path / "outbox").stat().st_mode & 0o777) == "0o700"
    assert not list((tmp_path / "outbox").glob(".*")), "no partial file left behind"
    parsed = email.message_from_bytes(Path(where).read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "[TLP:AMBER] V-7Q2M4KXA: Heap buffer overflow in notes' page decoder"
    assert parsed["To"] == "security@vendor.example"
    body = parsed.get_body().get_content()  # type: ignore[union-attr]
    assert body.startswith("TLP:AMBER.")
    assert "2027-03-07" in body, "the disclosure date"
    assert "https://clearinghouse.lab.example/vulns/V-7Q2M4KXA" in body
