"""The command line contract: examples in every --help, --json output, exit codes 0, 1 and 2, and bad
input answered with one clear line while the database stays as it was."""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import get_args

import pytest
import typer
from pydantic import SecretStr

from airlock.cli.main import COMMANDS
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.review import ReviewState
from airlock.review.content import GRANTABLE_TO_PARTNERS
from airlock.store import open_database
from tests.support.cli import Cli, Outcome
from tests.support.world import database_snapshot


@pytest.fixture
def cli(tmp_path: Path, clock: ManualClock) -> Cli:
    return Cli(Settings(home=tmp_path / "home"), clock)


@pytest.fixture
def populated(cli: Cli) -> Cli:
    """An initialised deployment with Acme's admin, a lead reviewer, and one submitted review."""
    for args in (
        ["init"],
        ["org", "add", "Acme AI", "--kind", "developer"],
        ["user", "add", "admin@acme.test", "--name", "Ada", "--role", "developer_admin", "--org", "acme-ai"],
        ["user", "add", "lead@lab.test", "--name", "Lee", "--role", "lead_reviewer", "--org", "evaluation-lab"],
        ["user", "add", "reviewer@lab.test", "--name", "Rae", "--role", "reviewer", "--org", "evaluation-lab"],
    ):
        assert cli(*args).exit_code == 0, args
    return cli


def submit(cli: Cli, *extra: str, input: str | None = None) -> Outcome:
    release = cli.clock.now().date() + timedelta(days=45)
    return cli(
        "submit",
        "--model",
        "openai-api/acme/frontier-1",
        "--version",
        "1",
        "--release-date",
        str(release),
        "--as",
        "admin@acme.test",
        "--json",
        *extra,
        input=input,
    )


def submitted_review(cli: Cli) -> str:
    outcome = submit(cli)
    assert outcome.exit_code == 0, outcome.stderr
    review_id: str = outcome.json()["id"]
    return review_id


def snapshot(cli: Cli) -> object:
    assert cli.settings is not None
    database = open_database(cli.settings.resolved_database_url)
    try:
        return database_snapshot(database)
    finally:
        database.dispose()


def assert_refused(outcome: Outcome, *fragments: str) -> None:
    """Exit status 1 and exactly one line on stderr, saying what is wrong; no traceback."""
    assert outcome.exit_code == 1, outcome
    assert len(outcome.error_lines) == 1, outcome.stderr
    line = outcome.error_lines[0]
    assert line.startswith("Error: ")
    assert "Traceback" not in outcome.stderr
    for fragment in fragments:
        assert fragment in line


def all_commands() -> list[list[str]]:
    groups = {
        "org": ["add", "list"],
        "user": ["add", "list"],
        "review": [
            "list",
            "show",
            "accept",
            "decline",
            "withdraw",
            "transition",
            "pause",
            "resume",
            "extend",
            "tick",
            "assign",
            "unassign",
            "grant",
            "revoke",
        ],
        "audit": ["verify", "checkpoint", "log", "unusual"],
        "vault": ["rotate-master-key", "rotate-org-key"],
        "sandbox": ["exec"],
        "challenges": ["generate", "check", "verify"],
        "eval": ["run", "status", "samples", "export", "invalidate", "reinstate"],
    }
    commands = [["init"], ["demo"], ["doctor"], ["submit"]]
    commands += [[group, name] for group, names in groups.items() for name in names]
    return commands


@pytest.mark.parametrize("command", all_commands(), ids=" ".join)
def test_every_command_has_help_with_an_example(cli: Cli, command: list[str]) -> None:
    outcome = cli(*command, "--help")
    assert outcome.exit_code == 0
    assert "Example" in outcome.stdout
    assert "airlock " in outcome.stdout


def test_the_root_lists_every_command_with_its_one_line_help(cli: Cli) -> None:
    shown = cli("--help").stdout
    for name, entry in COMMANDS.items():
        assert re.search(rf"^  {name} +{re.escape(entry.summary)}$", shown, re.MULTILINE), name


def test_a_groups_line_in_the_root_listing_is_the_groups_own_help() -> None:
    for name, entry in COMMANDS.items():
        target = getattr(importlib.import_module(entry.module), entry.attribute)
        if isinstance(target, typer.Typer):
            assert target.info.help == entry.summary, name


def test_a_mistyped_command_is_a_usage_error_that_suggests_the_right_one(cli: Cli) -> None:
    outcome = cli("reveiw", "list")
    assert outcome.exit_code == 2
    assert "No such command 'reveiw'. Did you mean 'review'?" in outcome.stderr


def test_the_whole_lifecycle_runs_from_the_command_line(populated: Cli) -> None:
    cli = populated
    review_id = submitted_review(cli)
    accepted = cli("review", "accept", review_id, "--as", "lead@lab.test", "--json").json()
    assert accepted["state"] == "accepted"
    assert accepted["clock"]["days_left"] == 30
    assert cli("review", "assign", review_id, "--reviewer", "reviewer@lab.test", "--as", "lead@lab.test").exit_code == 0
    for state, actor in (
        ("evaluating", "reviewer@lab.test"),
        ("draft_report", "reviewer@lab.test"),
        ("developer_response", "lead@lab.test"),
        ("final_report", "lead@lab.test"),
        ("closed", "lead@lab.test"),
    ):
        outcome = cli("review", "transition", review_id, state, "--as", actor)
        assert outcome.exit_code == 0, outcome.stderr
        assert f"is now {state}" in outcome.stdout
    shown = cli("review", "show", review_id, "--as", "lead@lab.test")
    assert "closed" in shown.stdout
    assert "evaluating -> draft_report by reviewer@lab.test" in shown.stdout


def test_review_list_shows_the_clock_in_text_and_json(populated: Cli) -> None:
    cli = populated
    review_id = submitted_review(cli)
    cli("review", "accept", review_id, "--as", "lead@lab.test")
    cli.clock.advance(timedelta(days=26))
    text = cli("review", "list", "--as", "lead@lab.test")
    assert review_id in text.stdout
    assert "at risk" in text.stdout
    (row,) = cli("review", "list", "--as", "lead@lab.test", "--json").json()
    assert (row["id"], row["clock"]["days_left"], row["clock"]["at_risk"]) == (review_id, 4, True)


def test_the_acting_user_comes_from_airlock_as(populated: Cli) -> None:
    outcome = populated("review", "list", "--json", env={"AIRLOCK_AS": "admin@acme.test"})
    assert outcome.exit_code == 0
    assert outcome.json() == []


def test_tick_expires_overdue_reviews(populated: Cli) -> None:
    cli = populated
    review_id = submitted_review(cli)
    cli("review", "accept", review_id, "--as", "lead@lab.test")
    assert cli("review", "tick").stdout.strip() == "No review has passed its deadline or its retention period."
    cli.clock.advance(timedelta(days=30))
    ticked = cli("review", "tick", "--json").json()
    assert [r["id"] for r in ticked["expired"]] == [review_id]


def test_submit_takes_the_card_from_a_file_the_key_from_the_environment_and_hashes_artefacts(
    populated: Cli, tmp_path: Path
) -> None:
    card = tmp_path / "card.md"
    card.write_text("# Frontier-1\nconfidential card")
    artefact = tmp_path / "weights.bin"
    artefact.write_bytes(b"weights")
    release = populated.clock.now().date() + timedelta(days=45)
    outcome = populated(
        "submit",
        "--model",
        "openai-api/acme/frontier-1",
        "--version",
        "1",
        "--release-date",
        str(release),
        "--model-card",
        str(card),
        "--api-key-env",
        "ACME_KEY",
        "--artefact-file",
        str(artefact),
        "--as",
        "admin@acme.test",
        "--json",
        env={"ACME_KEY": "sk-secret"},
    )
    review = outcome.json()
    assert {item["kind"]: item["bytes"] for item in review["content"]} == {
        "model_card": len(card.read_text()),
        "endpoint_credentials": len("sk-secret"),
    }
    assert review["artefacts"] == [{"name": "weights.bin", "sha256": hashlib.sha256(b"weights").hexdigest()}]
    assert "sk-secret" not in outcome.stdout


def test_the_model_card_can_come_from_standard_input(populated: Cli) -> None:
    release = populated.clock.now().date() + timedelta(days=45)
    outcome = populated(
        "submit",
        "--model",
        "openai/gpt-x",
        "--version",
        "1",
        "--release-date",
        str(release),
        "--model-card",
        "-",
        "--as",
        "admin@acme.test",
        "--json",
        input="card from a pipe",
    )
    review_id = outcome.json()["id"]
    shown = populated("review", "show", review_id, "--content", "--as", "admin@acme.test", "--json").json()
    assert shown["model_card"] == "card from a pipe"


# Bad input: one line, exit 1, nothing changed ------------------------------------------------------------


def test_unknown_review_id(populated: Cli) -> None:
    before = snapshot(populated)
    assert_refused(populated("review", "accept", "R-NOPE", "--as", "lead@lab.test"), "no review R-NOPE")
    assert snapshot(populated) == before


def test_malformed_release_date(populated: Cli) -> None:
    before = snapshot(populated)
    outcome = populated(
        "submit",
        "--model",
        "openai/gpt-x",
        "--version",
        "1",
        "--release-date",
        "next friday",
        "--as",
        "admin@acme.test",
    )
    assert_refused(outcome, "'next friday' is not a date", "YYYY-MM-DD")
    assert snapshot(populated) == before


def test_release_date_in_the_past(populated: Cli) -> None:
    before = snapshot(populated)
    outcome = populated(
        "submit", "--model", "openai/gpt-x", "--version", "1", "--release-date", "2026-10-01", "--as", "admin@acme.test"
    )
    assert_refused(outcome, "2026-10-01 is not after today")
    assert snapshot(populated) == before


def test_review_period_outside_14_to_90_days(populated: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    review_id = submitted_review(populated)
    before = snapshot(populated)
    assert populated.settings is not None
    monkeypatch.setenv("AIRLOCK_HOME", str(populated.settings.home))
    for period in ("7", "91", "thirty"):
        monkeypatch.setenv("AIRLOCK_REVIEW_PERIOD_DAYS", period)
        from_environment = Cli(None, populated.clock)
        outcome = from_environment("review", "accept", review_id, "--as", "lead@lab.test")
        assert_refused(outcome, "AIRLOCK_REVIEW_PERIOD_DAYS", "between 14 and 90")
    assert snapshot(populated) == before


def test_a_second_withdrawal(populated: Cli) -> None:
    review_id = submitted_review(populated)
    assert populated("review", "withdraw", review_id, "--as", "admin@acme.test").exit_code == 0
    before = snapshot(populated)
    assert_refused(populated("review", "withdraw", review_id, "--as", "admin@acme.test"), "already withdrawn")
    assert snapshot(populated) == before


def test_a_refused_move_by_the_wrong_role(populated: Cli) -> None:
    review_id = submitted_review(populated)
    before = snapshot(populated)
    assert_refused(
        populated("review", "accept", review_id, "--as", "admin@acme.test"),
        "admin@acme.test (developer_admin) may not accept",
        "lead_reviewer",
    )
    assert snapshot(populated) == before


def test_an_extension_without_consent(populated: Cli) -> None:
    review_id = submitted_review(populated)
    populated("review", "accept", review_id, "--as", "lead@lab.test")
    before = snapshot(populated)
    outcome = populated("review", "extend", review_id, "--days", "5", "--reason", "more", "--as", "lead@lab.test")
    assert_refused(outcome, "needs the developer's recorded consent", "(--consent-from).")
    # The service names the input at fault; the command line points at the option that gives it.
    consent = ("--consent-from", "admin@acme.test", "--as", "lead@lab.test")
    outcome = populated("review", "extend", review_id, "--days", "5", "--reason", "x", *consent)
    assert_refused(outcome, "where the developer gave their consent", "(--consent-ref).")
    assert snapshot(populated) == before


def test_an_unreadable_model_card(populated: Cli, tmp_path: Path) -> None:
    before = snapshot(populated)
    assert_refused(submit(populated, "--model-card", str(tmp_path / "missing.md")), "Cannot read the model card")
    assert snapshot(populated) == before


def test_an_api_key_variable_that_is_not_set(populated: Cli) -> None:
    before = snapshot(populated)
    assert_refused(submit(populated, "--api-key-env", "AIRLOCK_TEST_UNSET_KEY"), "AIRLOCK_TEST_UNSET_KEY", "not set")
    assert snapshot(populated) == before


def test_an_unknown_acting_user(populated: Cli) -> None:
    assert_refused(populated("review", "list", "--as", "ghost@lab.test"), "no user ghost@lab.test")


def test_errors_are_also_json_with_json(populated: Cli) -> None:
    outcome = populated("review", "show", "R-NOPE", "--as", "lead@lab.test", "--json")
    assert outcome.exit_code == 1
    assert outcome.json()["error"]["kind"] == "not_found"


def test_commands_before_init_say_to_run_init_and_create_nothing(cli: Cli) -> None:
    assert cli.settings is not None
    assert_refused(cli("review", "list"), "not initialised", "airlock init")
    assert not cli.settings.home.exists()


def test_init_twice_is_harmless(cli: Cli) -> None:
    assert "Initialised" in cli("init").stdout
    second = cli("init")
    assert second.exit_code == 0
    assert "Already initialised" in second.stdout


# Usage errors: exit 2 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["review", "extend", "R-X", "--days", "soon", "--reason", "x"],
        ["review", "accept"],
        ["review", "frobnicate"],
        ["submit", "--model", "openai/x"],
        ["review", "list", "--colour"],
    ],
    ids=["not-a-number", "missing-argument", "unknown-command", "missing-options", "unknown-option"],
)
def test_usage_errors_exit_2(populated: Cli, args: list[str]) -> None:
    assert populated(*args).exit_code == 2


# Each option that takes one of a fixed set, with a value outside it and the set it must name.
CHOICES: dict[str, tuple[list[str], list[str]]] = {
    "sandbox network": (["sandbox", "exec", "--network", "bogus", "--", "true"], ["none", "private", "hosts"]),
    "sandbox user": (["sandbox", "exec", "--user", "admin", "--", "true"], ["sandbox", "root"]),
    "report variant": (["report", "export", "R-XXXXXXXX", "--variant", "partial"], ["full", "redacted"]),
    "challenge family": (
        ["challenges", "generate", "--family", "quantum", "--seed", "1", "--count", "1", "--out", "suite"],
        ["memory-corruption", "logic-constraint", "web-injection"],
    ),
    "organisation kind": (["org", "add", "Acme", "--kind", "supplier"], ["developer", "agency", "partner", "vendor"]),
    "role": (
        ["user", "add", "x@acme.test", "--name", "X", "--role", "approver", "--org", "acme-ai"],
        [
            "developer_admin",
            "developer_member",
            "reviewer",
            "lead_reviewer",
            "partner",
            "auditor",
            "operator",
            "vendor_contact",
        ],
    ),
    "confidentiality marking": (
        ["submit", "--model", "openai/x", "--version", "1", "--release-date", "2027-01-15", "--marking", "secret"],
        ["confidential", "highly_confidential"],
    ),
    "review state filter": (["review", "list", "--state", "approved"], [state.value for state in ReviewState]),
    "review state argument": (["review", "transition", "R-XXXXXXXX", "approved"], [s.value for s in ReviewState]),
    "grantable content": (
        ["review", "grant", "R-XXXXXXXX", "--partner", "grid-cert", "--content", "endpoint_credentials"],
        [kind.value for kind in sorted(GRANTABLE_TO_PARTNERS)],
    ),
}


@pytest.mark.parametrize("case", CHOICES)
def test_a_value_outside_an_options_choices_is_a_usage_error_naming_them(populated: Cli, case: str) -> None:
    args, choices = CHOICES[case]
    before = snapshot(populated)
    outcome = populated(*args)
    assert outcome.exit_code == 2, outcome
    assert "Usage: airlock" in outcome.stderr
    for choice in choices:
        assert f"'{choice}'" in outcome.stderr, choice
    assert snapshot(populated) == before


@pytest.mark.parametrize("case", CHOICES)
def test_help_lists_an_options_choices(cli: Cli, case: str) -> None:
    args, choices = CHOICES[case]
    command = [word for word in args[:2] if not word.startswith(("-", "R-"))]
    shown = cli(*command, "--help").stdout
    for choice in choices:
        assert choice in shown, choice


def test_the_sandbox_commands_choices_are_the_sandboxs_own() -> None:
    from airlock.cli.sandbox_command import Network, User
    from airlock.sandbox.config import BwrapConfig

    fields = BwrapConfig.model_fields
    assert set(get_args(Network)) == set(get_args(fields["network"].annotation))
    assert set(get_args(User)) == set(get_args(fields["user"].annotation))


def test_counts_below_one_are_usage_errors(populated: Cli) -> None:
    for args in (["audit", "log", "--hours", "0"], ["audit", "unusual", "--refusals", "0"]):
        outcome = populated(*args)
        assert outcome.exit_code == 2, args
        assert "greater than or equal to 1" in outcome.stderr


# --verbose: the causes behind the one line ----------------------------------------------------------------


def test_without_verbose_an_error_with_a_cause_is_one_line(populated: Cli, tmp_path: Path) -> None:
    outcome = submit(populated, "--model-card", str(tmp_path / "missing.md"))
    assert_refused(outcome, "Cannot read the model card")
    assert "FileNotFoundError" not in outcome.stderr


def test_verbose_shows_the_cause_and_the_traceback_after_the_one_line(populated: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.md"
    release = str(populated.clock.now().date() + timedelta(days=45))
    submission = ["--model", "openai/x", "--version", "1", "--release-date", release, "--as", "admin@acme.test"]
    outcome = populated("--verbose", "submit", *submission, "--model-card", str(missing))
    assert outcome.exit_code == 1
    lines = outcome.error_lines
    assert lines[0].startswith("Error: Cannot read the model card")
    assert lines[1] == f"Caused by: FileNotFoundError: [Errno 2] No such file or directory: '{missing}'"
    assert "Traceback (most recent call last):" in outcome.stderr
    assert "The above exception was the direct cause of the following exception:" in outcome.stderr


def test_airlock_verbose_in_the_environment_does_the_same(populated: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert populated.settings is not None
    monkeypatch.setenv("AIRLOCK_HOME", str(populated.settings.home))
    monkeypatch.setenv("AIRLOCK_REVIEW_PERIOD_DAYS", "7")
    from_environment = Cli(None, populated.clock)
    quiet = from_environment("review", "list")
    assert_refused(quiet, "AIRLOCK_REVIEW_PERIOD_DAYS")
    verbose = from_environment("review", "list", env={"AIRLOCK_VERBOSE": "1"})
    assert verbose.error_lines[0] == quiet.error_lines[0]
    assert verbose.error_lines[1].startswith("Caused by: ValidationError: 1 validation error for Settings")


def test_the_installed_command_follows_the_contract(tmp_path: Path) -> None:
    """The real console script, in a child process: exit codes 0, 1 and 2 as the design says."""
    airlock = Path(sys.executable).parent / "airlock"
    env = {**os.environ, "AIRLOCK_HOME": str(tmp_path / "home")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(airlock), *args], env=env, capture_output=True, text=True, check=False, timeout=60)

    assert run("init").returncode == 0
    assert run("review", "list", "--json").stdout.strip() == "[]"
    refused = run("review", "show", "R-NOPE")
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: There is no review R-NOPE")
    assert run("review", "show").returncode == 2
    assert run("--version").stdout.strip().startswith("airlock ")


# Confidentiality from the command line ---------------------------------------------------------------------


def test_a_wrong_master_key_is_one_clear_line_and_exit_1(populated: Cli) -> None:
    before = snapshot(populated)
    wrong = base64.b64encode(bytes(32)).decode()
    populated_settings = populated.settings
    assert populated_settings is not None
    from_environment = Cli(populated_settings.model_copy(update={"master_key": SecretStr(wrong)}), populated.clock)
    outcome = from_environment("review", "list", "--as", "lead@lab.test")
    assert_refused(outcome, "is not this deployment's master key")
    assert snapshot(populated) == before


def test_a_missing_master_key_file_is_one_clear_line_and_exit_1(populated: Cli) -> None:
    assert populated.settings is not None
    populated.settings.resolved_master_key_file.unlink()
    assert_refused(populated("review", "list"), "master key file", "does not exist")


def test_init_warns_that_a_local_key_file_is_for_local_use(cli: Cli) -> None:
    outcome = cli("init")
    assert "master key was written to" in outcome.stdout
    assert "AIRLOCK_MASTER_KEY" in outcome.stdout
    assert cli.settings is not None
    assert cli.settings.resolved_master_key_file.stat().st_mode & 0o777 == 0o600


def test_withdrawal_destroys_the_content_and_show_says_so(populated: Cli, tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    card.write_text("secret card")
    review_id = submit(populated, "--model-card", str(card)).json()["id"]
    assert populated("review", "withdraw", review_id, "--as", "admin@acme.test").exit_code == 0
    shown = populated("review", "show", review_id, "--as", "admin@acme.test")
    assert "DESTROYED on" in shown.stdout
    assert_refused(
        populated("review", "show", review_id, "--content", "--as", "admin@acme.test"), "can never be read again"
    )


def test_team_and_partners_from_the_command_line(populated: Cli) -> None:
    review_id = submit(populated, "--model-card", "-", input="the card").json()["id"]
    populated("org", "add", "Grid CERT", "--kind", "partner")
    populated("user", "add", "analyst@cert.test", "--name", "An", "--role", "partner", "--org", "grid-cert")
    assert_refused(populated("review", "show", review_id, "--as", "analyst@cert.test"), "no review")
    granted = populated(
        "review", "grant", review_id, "--partner", "grid-cert", "--content", "model_card", "--as", "admin@acme.test"
    )
    assert granted.exit_code == 0
    assert "partner grid-cert" in granted.stdout
    assert "the card" in populated("review", "show", review_id, "--content", "--as", "analyst@cert.test").stdout
    assigned = populated("review", "assign", review_id, "--reviewer", "reviewer@lab.test", "--as", "lead@lab.test")
    assert "reviewer@lab.test" in assigned.stdout
