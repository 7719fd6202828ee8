"""``airlock sandbox exec``: one command in a fresh sandbox, its output and its exit status."""

from __future__ import annotations

import io

from airlock.clock import ManualClock
from tests.support.cli import Cli


def test_the_command_runs_inside_and_its_status_comes_back(clock: ManualClock) -> None:
    outcome = Cli(None, clock)("sandbox", "exec", "--timeout", "20", "--", "sh", "-c", "id -un; exit 3")
    assert outcome.exit_code == 3
    assert outcome.stdout == "sandbox\n"
    assert "exit status 3" in outcome.stderr


def test_a_service_on_the_private_network_answers(clock: ManualClock) -> None:
    outcome = Cli(None, clock)(
        "sandbox",
        "exec",
        "--network",
        "private",
        "--service",
        "web:8080:cd /tmp && echo hello > index.html && python3 -m http.server 8080",
        "--",
        "python3",
        "-c",
        "import urllib.request as u; print(u.urlopen('http://web:8080/').read().decode())",
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout == "hello\n\n"


def test_bad_options_are_one_clear_line(clock: ManualClock) -> None:
    cli = Cli(None, clock)
    for args, message in (
        (["--service", "web:8080:true"], "set network: private"),
        (["--network", "private", "--service", "web"], "is not NAME:PORT:COMMAND"),
        (["--timeout", "1"], "did not finish within 1 s"),
    ):
        outcome = cli("sandbox", "exec", *args, "--", "sleep", "5")
        assert outcome.exit_code == 1, args
        assert outcome.error_lines == [f"Error: {outcome.error_lines[0][7:]}"]
        assert message in outcome.stderr, args


def test_a_services_bad_name_or_port_is_one_sentence(clock: ManualClock) -> None:
    cli = Cli(None, clock)
    for service, message in (
        ("web:99999:true", "The service port 99999 is not a TCP port"),
        ("WEB:80:true", "The service name 'WEB' must start with a lowercase letter"),
    ):
        outcome = cli("sandbox", "exec", "--network", "private", "--service", service, "--", "true")
        assert outcome.exit_code == 1
        assert outcome.error_lines == [f"Error: {outcome.error_lines[0][7:]}"]
        assert message in outcome.stderr


def test_an_empty_command_or_a_timeout_below_one_second_is_a_usage_error(clock: ManualClock) -> None:
    cli = Cli(None, clock)
    for args in (["--", ""], ["--timeout", "0", "--", "true"], ["--timeout", "-1", "--", "true"]):
        assert cli("sandbox", "exec", *args).exit_code == 2, args


def test_a_terminal_sees_the_sandboxes_escape_sequences_made_inert() -> None:
    from airlock.cli.sandbox_command import _for

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    printed = "title\x1b]0;owned\x07 clear\x1b[2J\ttab\nnext line\r\n"
    assert _for(Terminal(), printed) == "title\\x1b]0;owned\\x07 clear\\x1b[2J\ttab\nnext line\r\n"
    assert _for(io.StringIO(), printed) == printed, "piped output passes unchanged"
