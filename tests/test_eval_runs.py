"""``airlock eval run`` against an OpenAI-compatible endpoint (a fake one on loopback, the only fake allowed):
every verdict recorded, transcripts and logs only in the vault, baselines on the same instances, clear
refusals before any sample runs, and a run that fails or is killed resumes without redoing a sample."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.evals.runner import PRIVATE_PREFIX
from airlock.review import ReviewState, SubmissionRequest
from airlock.review.content import ContentKind
from airlock.review.models import EvalRun, SampleVerdict
from airlock.vault.models import Blob
from tests.support.cli import Cli
from tests.support.fake_openai import FakeEndpoint, fake_endpoint, replaying_references
from tests.support.world import World, build_world, database_snapshot

SMOKE_SAMPLES = 3
QUICK = str(Path(__file__).parent / "support" / "suites" / "quick.yaml")
"""The smoke suite's samples (tier 1 of each family), without the fuzzer baseline."""
MODEL = "openai-api/fakelab/frontier-mini"


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Airlock, World, Settings]]:
    """A deployment on today's date (a subprocess of the test uses the real clock)."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    airlock = Airlock.open(settings, ManualClock(datetime.now(UTC)), must_be_initialised=False)
    airlock.initialise()
    try:
        yield airlock, build_world(airlock), settings
    finally:
        airlock.close()


def accepted_review(
    airlock: Airlock, world: World, *, model: str = MODEL, base_url: str | None = None, key: str | None = "sk-fake"
) -> str:
    release = airlock.clock.now().date() + timedelta(days=40)
    detail = airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model=model,
            model_version="1",
            planned_release_date=release,
            model_card="card",
            base_url=base_url,
            endpoint_credentials=key,
        ),
    )
    airlock.reviews.accept(world.lead, detail.id)
    airlock.reviews.assign(world.lead, detail.id, world.reviewer.email)
    return detail.id


def cli(airlock: Airlock, settings: Settings) -> Cli:
    clock = airlock.clock
    assert isinstance(clock, ManualClock)
    return Cli(settings, clock)


def suites_cache() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "airlock" / "suites"


def verdict_rows(airlock: Airlock) -> list[SampleVerdict]:
    with airlock.database.transaction(read_only=True) as session:
        return list(session.scalars(select(SampleVerdict).order_by(SampleVerdict.id)))


def model_rows(airlock: Airlock) -> list[SampleVerdict]:
    return [row for row in verdict_rows(airlock) if row.subject == "model"]


def blobs_of(airlock: Airlock, kind: ContentKind) -> int:
    with airlock.database.transaction(read_only=True) as session:
        return int(session.scalar(select(func.count()).select_from(Blob).where(Blob.kind == kind)) or 0)


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    with fake_endpoint(replaying_references(suites_cache())) as running:
        yield running


def test_a_smoke_run_records_every_verdict_with_baselines_and_keeps_transcripts_in_the_vault(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)

    outcome = cli(airlock, settings)("eval", "run", review, "--suite", QUICK, "--as", world.reviewer.email, "--json")

    assert outcome.exit_code == 0, outcome.stderr
    status = outcome.json()
    assert (status["status"], status["samples_total"]) == ("completed", SMOKE_SAMPLES)
    assert status["verdicts"] == {
        "model": {"done": SMOKE_SAMPLES, "solved": SMOKE_SAMPLES, "errors": 0},
        "baseline:reference": {"done": SMOKE_SAMPLES, "solved": SMOKE_SAMPLES, "errors": 0},
        "baseline:null-model": {"done": SMOKE_SAMPLES, "solved": 0, "errors": 0},
    }
    assert status["input_tokens"] > 0
    assert endpoint.sample_calls == SMOKE_SAMPLES
    assert airlock.reviews.show(world.lead, review).state == ReviewState.EVALUATING
    rows = verdict_rows(airlock)
    model_rows = [row for row in rows if row.subject == "model"]
    assert {row.family for row in model_rows} == {"memory-corruption", "logic-constraint", "web-injection"}
    assert all(row.transcript_address for row in model_rows)
    assert all(row.model_calls == 1 for row in model_rows)
    assert blobs_of(airlock, ContentKind.EVAL_TRANSCRIPT) == SMOKE_SAMPLES
    assert blobs_of(airlock, ContentKind.EVAL_LOG) >= 1
    transcript = airlock.reviews.read_content(world.reviewer, review, "eval_transcript", purpose="test")
    assert b"proof_of_concept" in transcript
    assert airlock.oversight.verify_audit(world.auditor, airlock.audit_verifier_key()).ok


def _contents(path: Path) -> bytes:
    """A file's bytes, or none for what is not a file, is too large to matter, or went away while we looked
    (other processes come and go in tmpfs)."""
    try:
        return path.read_bytes() if path.is_file() and path.stat().st_size < 50_000_000 else b""
    except FileNotFoundError:
        return b""


def _sibling_processes() -> set[int]:
    """The other processes started by this test process's parent (make test's other test processes)."""
    parent, siblings = os.getppid(), set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (in parentheses) may hold spaces: the parent's pid is the second field after it.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == parent and int(stat.parent.name) != os.getpid():
            siblings.add(int(stat.parent.name))
    return siblings


def test_no_plaintext_log_or_transcript_is_left_on_disk(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, tmp_path: Path
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    # Every transcript holds the literal name of the scorer. Search where a careless run would leave one: this
    # test's files, tmpfs, and Inspect's sample buffer and trace logs in the evaluator's own data directory. Other
    # test processes may be running evaluations of their own meanwhile: their private directories (named after
    # their process) are theirs to clean up, not leaks of this run; and tests that ran Inspect in this process
    # before (in-process tasks) left their own trace log here, which this process's later work (this run's
    # compiles, say) appends to: in a file that was there before, only what the run appended counts.
    data_home = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    ours = f"{PRIVATE_PREFIX}{os.getpid()}-"

    # Inspect names each process's trace log after it (trace-PID.log): those of the other test processes, which
    # run in-process tasks of their own meanwhile, are theirs. This run's evaluation worker is not among them.
    theirs = {f"trace-{pid}.log" for pid in _sibling_processes()}

    def contents_of_places() -> dict[Path, bytes]:
        found = {}
        for place in [tmp_path, Path("/dev/shm"), data_home / "inspect_ai"]:
            for directory, subdirectories, files in os.walk(place):  # os.walk skips what vanishes while it walks
                subdirectories[:] = [
                    name for name in subdirectories if not name.startswith(PRIVATE_PREFIX) or name.startswith(ours)
                ]
                for name in files:
                    if name not in theirs:
                        found[Path(directory, name)] = _contents(Path(directory, name))
        return found

    def appended(path: Path, content: bytes) -> bytes:
        earlier = before.get(path, b"")
        return content[len(earlier) :] if content.startswith(earlier) else content

    before = contents_of_places()
    assert cli(airlock, settings)("eval", "run", review, "--suite", QUICK, "--as", world.reviewer.email).exit_code == 0
    assert verdict_rows(airlock)
    leaks = [path for path, content in contents_of_places().items() if b"proof_of_concept" in appended(path, content)]
    assert leaks == []
    assert not list(Path("/dev/shm").glob(f"{ours}*"))


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        ("unknown-suite", "There is no suite named 'exhaustive'"),
        ("unknown-model", "The model nosuchprovider/model cannot be used"),
        ("missing-credentials", "cannot be used"),
        ("unreachable", "did not answer a test request"),
        # Anthropic's provider is installed with Airlock: its model is tried, not refused for a missing package.
        ("unreachable-anthropic", "did not answer a test request"),
        # Providers whose client is not installed: the package to install, in one line.
        ("provider-not-installed", "requires optional dependencies (pip install google-genai)"),
        ("not-accepted", "evaluations run on accepted or evaluating reviews"),
    ],
)
def test_bad_input_is_refused_before_any_sample_runs_and_changes_nothing(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, arrange: str, message: str
) -> None:
    airlock, world, settings = deployment
    suite = "exhaustive" if arrange == "unknown-suite" else QUICK
    if arrange == "unknown-model":
        review = accepted_review(airlock, world, model="nosuchprovider/model")
    elif arrange == "missing-credentials":
        review = accepted_review(airlock, world, base_url=endpoint.url, key=None)
    elif arrange == "unreachable":
        review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    elif arrange == "provider-not-installed":
        review = accepted_review(airlock, world, model="google/gemini-candidate")
    elif arrange == "unreachable-anthropic":
        review = accepted_review(airlock, world, model="anthropic/claude-candidate", base_url="http://127.0.0.1:9")
    elif arrange == "not-accepted":
        review = accepted_review(airlock, world, base_url=endpoint.url)
        for moved_to in (ReviewState.EVALUATING, ReviewState.DRAFT_REPORT):
            airlock.reviews.transition(world.reviewer, review, moved_to)
    else:
        review = accepted_review(airlock, world, base_url=endpoint.url)
    before = database_snapshot(airlock.database)
    state = airlock.reviews.show(world.lead, review).state

    outcome = cli(airlock, settings)("eval", "run", review, "--suite", suite, "--as", world.lead.email)

    assert outcome.exit_code == 1
    assert message in " ".join(outcome.error_lines)
    assert endpoint.sample_calls == 0
    assert database_snapshot(airlock.database) == before
    assert airlock.reviews.show(world.lead, review).state == state


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        ("corrupt-gguf", "llama.cpp cannot read"),
        ("library-that-cannot-load", "llama.cpp's native library could not be loaded"),
    ],
)
def test_a_local_model_that_fails_its_probe_is_refused_in_one_line_and_changes_nothing(
    deployment: tuple[Airlock, World, Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    arrange: str,
    message: str,
) -> None:
    airlock, world, settings = deployment
    if arrange == "corrupt-gguf":
        corrupt = tmp_path / "corrupt.gguf"
        corrupt.write_bytes(b"GGUF" + b"\x00" * 64)
        review = accepted_review(airlock, world, model=f"airlock/{corrupt}", key=None)
    else:
        broken = tmp_path / "lib"
        broken.mkdir()
        (broken / "libllama.so").write_bytes(b"not a shared library")
        monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(broken))  # llama-cpp-python's own choice of library
        review = accepted_review(airlock, world, model="airlock/smollm2-135m", key=None)
    before = database_snapshot(airlock.database)

    outcome = cli(airlock, settings)("eval", "run", review, "--suite", QUICK, "--as", world.reviewer.email)

    assert outcome.exit_code == 1
    (line,) = outcome.error_lines
    assert message in line
    assert database_snapshot(airlock.database) == before
    assert airlock.reviews.show(world.lead, review).state == ReviewState.ACCEPTED


def test_an_endpoint_that_errors_or_stalls_fails_the_run_clearly_and_a_rerun_finishes_it(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    run = cli(airlock, settings)
    arguments = ("eval", "run", review, "--suite", QUICK, "--as", world.reviewer.email, "--retries", "1")

    endpoint.failing = True
    failed = run(*arguments, "--timeout", "5")
    assert failed.exit_code == 1
    assert "could not be judged" in failed.stdout
    endpoint.failing, endpoint.stall_seconds = False, 4
    stalled = run(*arguments, "--timeout", "1")
    assert stalled.exit_code == 1
    with airlock.database.transaction(read_only=True) as session:
        (recorded,) = session.scalars(select(EvalRun)).all()
        assert (recorded.status, recorded.attempts) == ("failed", 2)
        assert "could not be judged" in (recorded.error or "")

    endpoint.stall_seconds = 0
    finished = run(*arguments, "--json")
    assert finished.exit_code == 0, finished.stdout
    assert finished.json()["verdicts"]["model"] == {"done": SMOKE_SAMPLES, "solved": SMOKE_SAMPLES, "errors": 0}
    assert finished.json()["run"] == recorded.public_id  # the same run, resumed: the same seeds
    # Each step is on the review's timeline, the failures with their reasons.
    steps = [
        event.reason for event in airlock.reviews.show(world.reviewer, review).events if event.kind == "evaluation"
    ]
    assert [step.split(") ", 1)[1].split(":")[0] for step in steps] == [
        "started",
        "failed",
        "started (attempt 2, resuming)",
        "failed",
        "started (attempt 3, resuming)",
        "completed",
    ]
    assert "could not be judged" in steps[1]
    assert steps[-1].endswith(f"the model solved {SMOKE_SAMPLES} of {SMOKE_SAMPLES}")


def test_a_sample_waiting_its_turn_at_the_model_is_not_cut_short_by_its_time_limit(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, tmp_path: Path
) -> None:
    """The budget's time is working time: a sample queued behind others for the model's one connection (as every
    sample queues for a local model) keeps its seconds for its own work. Each answer takes 6 s; the third sample
    waits 12 s for its turn, past its 10 s limit in wall-clock terms, and is answered all the same."""
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    suite = yaml.safe_load(Path(QUICK).read_text(encoding="utf-8"))
    suite["budget"]["time_limit"] = 10
    tight = tmp_path / "tight.yaml"
    tight.write_text(yaml.safe_dump(suite), encoding="utf-8")
    endpoint.stall_seconds = 6

    outcome = cli(airlock, settings)(
        "eval", "run", review, "--suite", str(tight), "--as", world.reviewer.email, "--max-connections", "1", "--json"
    )

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.json()["verdicts"]["model"] == {"done": SMOKE_SAMPLES, "solved": SMOKE_SAMPLES, "errors": 0}


def test_a_sample_stopped_by_its_budget_is_recorded_with_the_limit_that_stopped_it(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint, tmp_path: Path
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    suite = yaml.safe_load(Path(QUICK).read_text(encoding="utf-8"))
    suite["budget"]["token_limit"] = 100  # less than any prompt of the suite: its first answer passes it
    tight = tmp_path / "tight.yaml"
    tight.write_text(yaml.safe_dump(suite), encoding="utf-8")

    outcome = cli(airlock, settings)("eval", "run", review, "--suite", str(tight), "--as", world.reviewer.email)

    assert outcome.exit_code == 0, outcome.stderr
    reasons = [row.reason for row in model_rows(airlock)]
    assert len(reasons) == SMOKE_SAMPLES
    assert all(reason.startswith("stopped at its token limit (100); ") for reason in reasons), reasons


def test_a_run_killed_with_sigkill_resumes_and_makes_no_model_call_twice(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    endpoint.hold_after = 2  # requests after the second admitted one wait: kill the run while they do
    environment = {
        **os.environ,
        "AIRLOCK_HOME": str(settings.home),
        "AIRLOCK_DATABASE_URL": str(settings.database_url),
    }
    command = [sys.executable, "-m", "airlock.cli.main", "eval", "run", review, "--suite", QUICK]
    command += ["--as", world.reviewer.email, "--max-samples", "1"]
    killed = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert endpoint.held.wait(timeout=120), "the run never reached a held request"
        # Kill once both admitted samples are answered and recorded, and the rest wait on the model: a kill
        # between an answer and its record would rightly cost that call again on resume.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            endpoint.sample_calls < 2 or len(model_rows(airlock)) < endpoint.sample_calls
        ):
            time.sleep(0.1)
        workers = _workers_of(killed.pid)
        assert workers, "the run has no worker to outlive it"
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
    finally:
        if killed.poll() is None:
            killed.kill()
    recorded = len(model_rows(airlock))
    assert 2 <= recorded < SMOKE_SAMPLES
    assert recorded == endpoint.sample_calls
    _none_left(workers)  # the worker died with the run, its request unanswered
    endpoint.hold_after = None
    endpoint.release.set()

    resumed = cli(airlock, settings)("eval", "run", review, "--suite", QUICK, "--as", world.reviewer.email, "--json")

    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.json()["verdicts"]["model"]["done"] == SMOKE_SAMPLES
    assert endpoint.sample_calls == SMOKE_SAMPLES, [text[:60] for text in endpoint.answered]  # none done twice


def _workers_of(pid: int) -> list[int]:
    """The evaluation workers that process ``pid`` started (other tests' runs may have workers of their own)."""
    return [child for child in _processes() if _parent(child) == pid and WORKER in _command_line(child)]


def _none_left(workers: list[int]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        alive = [pid for pid in workers if WORKER in _command_line(pid)]
        if not alive:
            return
        time.sleep(0.2)
    raise AssertionError(f"a worker outlived the killed run: {alive}")


WORKER = "airlock.evals.worker"


def _processes() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the fields after the command's name: state, then parent


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_eval_status_reports_the_run_from_another_terminal(
    deployment: tuple[Airlock, World, Settings], endpoint: FakeEndpoint
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url=endpoint.url)
    run = cli(airlock, settings)
    assert run("eval", "status", review, "--as", world.reviewer.email).stdout.startswith(
        f"Review {review} has no evaluation runs yet"
    )
    assert run("eval", "run", review, "--suite", QUICK, "--as", world.reviewer.email).exit_code == 0

    shown = run("eval", "status", review, "--as", world.reviewer.email)
    assert shown.exit_code == 0
    assert f"model: {SMOKE_SAMPLES} of {SMOKE_SAMPLES} done, {SMOKE_SAMPLES} solved" in shown.stdout
    assert f"baseline:null-model: {SMOKE_SAMPLES} done, 0 solved" in shown.stdout
    refused = run("eval", "status", review, "--as", world.auditor.email)
    assert refused.exit_code == 1
    again = run("eval", "run", review, "--suite", QUICK, "--as", world.reviewer.email)
    assert "already completed" in again.stdout
