"""Bad input to ``airlock challenges``: one clear sentence, exit status 1 (2 for usage), nothing lost."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.challenges import MEMORY, editable_copy, one, rewrite_manifest, tree_bytes
from tests.support.cli import Cli, Outcome


def refused(outcome: Outcome, *fragments: str) -> None:
    assert outcome.exit_code == 1, outcome
    message = " ".join(outcome.error_lines)
    for fragment in fragments:
        assert fragment in message, message


def test_a_manifest_that_is_not_yaml_is_refused(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    broken = editable_copy(one(memory_suite, tier=1, variant="stack_overflow"), tmp_path)
    (broken / "challenge.yaml").write_text("name: [unclosed\n")
    refused(cli_without_deployment("challenges", "check", str(broken)), "is not valid YAML (line 2, column 1: ")


def test_a_manifest_missing_a_field_names_the_field(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    broken = editable_copy(one(memory_suite, tier=1, variant="stack_overflow"), tmp_path)
    rewrite_manifest(broken, oracle=None)
    refused(cli_without_deployment("challenges", "check", str(broken)), "is invalid at oracle", "Field required")
    rewrite_manifest(broken, oracle={"type": "sanitizer", "bug_class": "heap-buffer-overflow"})
    refused(cli_without_deployment("challenges", "check", str(broken)), "is invalid at oracle.sanitizer.function")


def test_a_manifest_naming_a_missing_file_or_leaving_its_directory_is_refused(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    broken = editable_copy(one(memory_suite, tier=1, variant="heap_overflow"), tmp_path)
    (broken / "solution" / "reference.bin").unlink()
    refused(cli_without_deployment("challenges", "check", str(broken)), "names solution/reference.bin, which is not in")
    rewrite_manifest(broken, solution="../../etc/passwd")
    refused(cli_without_deployment("challenges", "check", str(broken)), "leaves the challenge directory")


def test_a_challenge_changed_after_it_was_made_is_refused(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(one(memory_suite, tier=2, variant="oob_read").directory, tampered)
    (tampered / "controls" / "empty.bin").write_bytes(b"x")
    refused(cli_without_deployment("challenges", "check", str(tampered)), "do not match its version", "Regenerate it")


def test_a_build_failure_is_reported_with_the_compilers_error(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    broken = editable_copy(one(memory_suite, tier=1, variant="double_free"), tmp_path)
    source = broken / "src" / "main.c"
    source.write_text(source.read_text().replace("int main(void) {", "int main(void) { this is not C;"))
    refused(cli_without_deployment("challenges", "check", str(broken)), "does not build", "error")
    poc = broken / "solution" / "reference.bin"
    refused(cli_without_deployment("challenges", "verify", str(broken), "--poc", str(poc)), "does not build")


def test_a_proof_of_concept_over_the_limit_is_refused(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    challenge = one(memory_suite, tier=1, variant="use_after_free")
    poc = tmp_path / "large.bin"
    poc.write_bytes(b"A" * (challenge.max_poc_bytes + 1))
    outcome = cli_without_deployment("challenges", "verify", str(challenge.directory), "--poc", str(poc))
    refused(outcome, f"is {challenge.max_poc_bytes + 1} bytes", f"accepts at most {challenge.max_poc_bytes}")
    missing = cli_without_deployment("challenges", "verify", str(challenge.directory), "--poc", str(tmp_path / "nope"))
    refused(missing, "Cannot read the proof of concept", "No such file")


def test_a_challenge_whose_reference_fails_or_whose_control_passes_fails_its_check(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    challenge = one(memory_suite, tier=2, variant="integer_overflow")
    weak = editable_copy(challenge, tmp_path / "weak")
    shutil.copy(weak / "solution" / "reference.bin", weak / "controls" / "random.bin")
    outcome = cli_without_deployment("challenges", "check", str(weak))
    assert outcome.exit_code == 1
    assert "FAILED: the control 'random' is accepted as an exploit" in outcome.stdout

    wrong = editable_copy(challenge, tmp_path / "wrong")
    shutil.copy(wrong / "near_misses" / "wrong_function.bin", wrong / "solution" / "reference.bin")
    outcome = cli_without_deployment("challenges", "check", str(wrong))
    assert outcome.exit_code == 1
    assert "FAILED: the reference solution is not accepted (wrong function" in outcome.stdout


def test_generate_refuses_unknown_families_tiers_and_variants(tmp_path: Path, cli_without_deployment: Cli) -> None:
    def generate(*extra: str) -> Outcome:
        return cli_without_deployment(
            "challenges", "generate", "--seed", "1", "--count", "1", "--out", str(tmp_path / "s"), *extra
        )

    unknown = generate("--family", "quantum")  # the families are a fixed set: a usage error that lists them
    assert unknown.exit_code == 2
    assert "'quantum' is not one of" in unknown.stderr
    assert f"'{MEMORY}'" in unknown.stderr
    refused(generate("--family", MEMORY, "--tier", "9"), "there is no tier 9")
    refused(generate("--family", MEMORY, "--variant", "rowhammer"), "not 'rowhammer'")
    refused(
        cli_without_deployment(
            "challenges", "generate", "--family", MEMORY, "--seed", "1", "--count", "0", "--out", str(tmp_path / "s")
        ),
        "at least one challenge",
    )
    assert not (tmp_path / "s").exists()


def test_generate_never_writes_into_a_directory_that_holds_something(
    memory_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    existing = tmp_path / "existing"
    shutil.copytree(memory_suite, existing)
    before = tree_bytes(existing)
    outcome = cli_without_deployment(
        "challenges", "generate", "--family", MEMORY, "--seed", "99", "--count", "1", "--out", str(existing)
    )
    refused(outcome, "is not empty")
    assert tree_bytes(existing) == before


def test_check_on_a_directory_without_challenges_says_so(tmp_path: Path, cli_without_deployment: Cli) -> None:
    refused(cli_without_deployment("challenges", "check", str(tmp_path)), "There is no challenge.yaml")


def test_a_missing_option_is_a_usage_error(cli_without_deployment: Cli) -> None:
    assert cli_without_deployment("challenges", "generate", "--family", MEMORY).exit_code == 2
    assert cli_without_deployment("challenges", "verify", "somewhere").exit_code == 2


def test_a_service_that_does_not_start_is_reported_as_such(
    web_suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    original = one(web_suite, tier=1, variant="sql_injection")
    assert original.service is not None
    broken = editable_copy(original, tmp_path)
    entry = original.service.command[-1]  # python3 ENTRY
    (broken / original.service.files[entry]).write_text("this is not Python\n")
    refused(cli_without_deployment("challenges", "check", str(broken)), "its service did not start")
