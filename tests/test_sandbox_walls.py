"""Nothing of the evaluator reaches the code under test, and nothing that code does outgrows its sandbox.

The evaluator's secrets are where the real system has them: its process environment (``AIRLOCK_MASTER_KEY``,
a model API key) and its session keyring. Code in a sandbox hunts for them the way a model under test would:
every /proc entry, ptrace of every process it can see, every file it can read. Each hunt has a control that
proves the hunter finds a marker where one is.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageTool, get_model
from inspect_ai.scorer import includes
from inspect_ai.tool import bash

from airlock.evals.models.scripted import call, call_with
from airlock.sandbox import BwrapConfig, SandboxLimits, sample_sandboxes
from airlock.sandbox import process as sandbox_process
from airlock.sandbox.bwrap import check_support, find_bwrap
from airlock.sandbox.resources import NoResourceGroup, ResourceGroup, create_resource_group
from tests.support.sandboxes import host_processes_with, processes_appearing_with

pytestmark = pytest.mark.anyio

AIRLOCK = str(Path(sys.executable).with_name("airlock"))

HUNTER = r"""
import ctypes, json, os, stat, sys
marker = bytes.fromhex(sys.argv[1])  # given in hex, so that no command line in the sandbox holds it
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
SKIP = {"/usr", "/proc/sys", "/proc/sysrq-trigger"}
found, files_read, traced = [], 0, []

def look(where, data):
    if marker in data:
        found.append(where)

def read(path, limit=1 << 20):
    global files_read
    try:
        with open(path, "rb") as stream:
            data = stream.read(limit)
    except OSError:
        return
    files_read += 1
    look(path, data)

me = os.getpid()
for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
    read(f"/proc/{pid}/environ")
    read(f"/proc/{pid}/cmdline")
    if pid == me or libc.ptrace(PTRACE_ATTACH, pid, 0, 0) != 0:
        continue
    os.waitpid(pid, 0x40000000)  # __WALL: until it has stopped for us
    traced.append(pid)
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as memory:
            for line in maps:
                span, permissions = line.split()[:2]
                start, end = (int(x, 16) for x in span.split("-"))
                if permissions.startswith("r") and end - start < (64 << 20):
                    try:
                        memory.seek(start)
                        look(f"memory of {pid} at {start:#x}", memory.read(end - start))
                    except OSError:
                        pass
    finally:
        libc.ptrace(PTRACE_DETACH, pid, 0, 0)

for root, directories, files in os.walk("/"):
    directories[:] = [d for d in directories if os.path.join(root, d) not in SKIP and d != "task"]
    for name in files:
        path = os.path.join(root, name)
        try:
            if stat.S_ISREG(os.lstat(path).st_mode) and name not in ("mem", "pagemap", "kcore", "kmsg"):
                read(path)
        except OSError:
            pass
print(json.dumps({"found": found, "files_read": files_read, "traced": traced}))
"""


def hunt(marker: str) -> str:
    """The hunt for ``marker``, beside a process of the command's own for the hunter to trace (which shows that
    tracing works)."""
    return f"sleep 30 & python3 -c '{HUNTER}' {marker.encode().hex()}; kill %1 2>/dev/null; true"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def evaluator_secrets(monkeypatch: pytest.MonkeyPatch) -> str:
    """A marker in the evaluator's environment, inside the values of the secrets it really holds there."""
    marker = f"evaluator-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("AIRLOCK_MASTER_KEY", f"key-{marker}")
    monkeypatch.setenv("OPENAI_API_KEY", f"sk-{marker}")
    monkeypatch.setenv("AIRLOCK_TEST_MARKER", marker)
    return marker


def hunt_result(output: str) -> dict[str, object]:
    """The hunter's findings: its one line of JSON (a tool's output may carry the command's error stream too)."""
    lines = [line for line in output.splitlines() if line.startswith('{"found"')]
    assert lines, f"the hunter printed no findings: {output[-2000:]!r}"
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def test_airlock_sandbox_exec_shows_nothing_of_the_evaluators_environment(evaluator_secrets: str) -> None:
    marker = evaluator_secrets
    command = ["sh", "-c", hunt(marker)]
    result = subprocess.run(
        [AIRLOCK, "sandbox", "exec", "--timeout", "120", "--", *command],
        capture_output=True,
        text=True,
        env=os.environ,
        check=False,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    outcome = hunt_result(result.stdout)
    assert outcome["found"] == []
    assert outcome["traced"], "the hunter traced a process of the sandbox and read its memory"
    assert int(str(outcome["files_read"])) > 100


async def test_the_hunter_finds_a_marker_that_is_in_the_sandbox() -> None:
    """The control: the same hunt, with the marker given to the command itself, finds it in /proc and in the
    traced process's memory."""
    marker = f"planted-{uuid.uuid4().hex}"
    async with sample_sandboxes() as sandboxes:
        result = await sandboxes["default"].exec(["sh", "-c", hunt(marker)], env={"MARKER": marker}, timeout=120)
    found = hunt_result(result.stdout)["found"]
    assert isinstance(found, list)
    assert any(where.endswith("/environ") for where in found)
    assert any(where.startswith("memory of") for where in found)


def test_an_agent_in_an_inspect_sample_finds_nothing_of_the_evaluator(evaluator_secrets: str, tmp_path: Path) -> None:
    marker = evaluator_secrets
    steps = [call("bash", command=hunt(marker)), call_with("submit", lambda output: {"answer": "done"})]
    task = Task(
        dataset=[Sample(input="Find the evaluator's secrets.", target="nothing")],
        solver=react(tools=[bash(timeout=180)]),
        scorer=includes(),
        sandbox="bwrap",
    )
    (log,) = inspect_eval(
        task, model=get_model("scripted/agent", steps=steps, memoize=False), log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success", log.error
    assert log.samples is not None
    (tool_output,) = [message.text for message in log.samples[0].messages if isinstance(message, ChatMessageTool)][:1]
    outcome = hunt_result(tool_output)
    assert outcome["found"] == []
    assert outcome["traced"]
    assert int(str(outcome["files_read"])) > 100


KEYRING_HUNT = """
import ctypes, errno, json, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_add_key, SYS_keyctl = {add_key}, {keyctl}
KEYCTL_SEARCH, KEYCTL_READ, SESSION = 10, 11, -3

def call(*arguments):
    result = libc.syscall(*arguments)
    return result, ctypes.get_errno() if result < 0 else 0

buffer = ctypes.create_string_buffer(4096)
found = []
key, error = call(SYS_keyctl, KEYCTL_SEARCH, SESSION, b"user", b"evaluator-secret", 0)
if key > 0:
    size, _ = call(SYS_keyctl, KEYCTL_READ, key, buffer, 4096)
    found.append(buffer.raw[:max(size, 0)].decode(errors="replace"))
added, add_error = call(SYS_add_key, b"user", b"left-by-a-sample", b"note", 4, SESSION)
with open("/proc/keys") as keys:
    listing = keys.read()
print(json.dumps({{"found": found, "search_errno": error, "added": added, "add_errno": add_error,
                   "listed": "evaluator-secret" in listing or "left-by-a-sample" in listing}}))
"""

KEYRING_EVALUATOR = """
import asyncio, ctypes, json, sys
from airlock.sandbox import sample_sandboxes

libc = ctypes.CDLL(None, use_errno=True)
SYS_add_key, SYS_keyctl = {add_key}, {keyctl}
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_READ, SESSION = 1, 11, -3
assert libc.syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, b"evaluator-session") > 0
secret = libc.syscall(SYS_add_key, b"user", b"evaluator-secret", sys.argv[2].encode(), len(sys.argv[2]), SESSION)
assert secret > 0
hunt = open(sys.argv[1]).read()

async def main():
    async with sample_sandboxes() as first, sample_sandboxes() as second:
        inside = [await box["default"].exec(["python3", "-c", hunt], timeout=30) for box in (first, second)]
    buffer = (ctypes.c_int32 * 64)()
    size = libc.syscall(SYS_keyctl, KEYCTL_READ, SESSION, buffer, ctypes.sizeof(buffer))
    print(json.dumps({{
        "inside": [json.loads(result.stdout) for result in inside],
        "keys_in_the_evaluators_session": list(buffer)[: size // 4],
        "secret": secret,
    }}))

asyncio.run(main())
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the hunt uses x86-64 system call numbers")
def test_no_sandbox_sees_or_adds_keys_in_the_evaluators_session_keyring(tmp_path: Path) -> None:
    numbers = {"add_key": 248, "keyctl": 250}
    marker = f"keyring-secret-{uuid.uuid4().hex}"
    hunter = tmp_path / "hunt.py"
    hunter.write_text(KEYRING_HUNT.format(**numbers))
    evaluator = tmp_path / "evaluator.py"
    evaluator.write_text(KEYRING_EVALUATOR.format(**numbers))
    result = subprocess.run(
        [sys.executable, str(evaluator), str(hunter), marker], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    for inside in outcome["inside"]:
        assert inside["found"] == []
        assert inside["added"] == -1
        assert not inside["listed"]
    assert outcome["keys_in_the_evaluators_session"] == [outcome["secret"]], "no sandbox added a key to it"
    assert marker not in result.stdout


def test_the_keyring_hunter_finds_a_key_in_its_own_session(tmp_path: Path) -> None:
    """The control: the same hunt, run in a session holding the key, finds it."""
    script = textwrap.dedent(
        """
        import ctypes, subprocess, sys
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.syscall(250, 1, b"control-session") > 0
        assert libc.syscall(248, b"user", b"evaluator-secret", b"control-marker", 14, -3) > 0
        sys.exit(subprocess.run([sys.executable, sys.argv[1]]).returncode)
        """
    )
    hunter = tmp_path / "hunt.py"
    hunter.write_text(KEYRING_HUNT.format(add_key=248, keyctl=250))
    result = subprocess.run(
        [sys.executable, "-c", script, str(hunter)], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout)["found"] == ["control-marker"]


# Bounds -------------------------------------------------------------------------------------------------------

BOUNDED = BwrapConfig(limits=SandboxLimits(memory_mb=256, work_mb=24, tmp_mb=20, file_size_mb=512))
"""Small places, and a file-size limit above all of them, so each fill stops at its place's own bound."""
EXPECTED_BOUNDS_MB = {"/work": 24, "/tmp": 20, "/var/tmp": 20, "/etc": 16, "/run": 16, "/dev/shm": 16}

WRITABLE_MOUNTS = r"""
import json
places = []
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    point, options = fields[4], fields[5].split(",")
    kind = fields[fields.index("-") + 1]
    if "rw" in options and kind not in ("proc", "devpts", "devtmpfs"):
        places.append(point)
print(json.dumps(places))
"""


@pytest.fixture(params=["cgroups as the machine has them", "no cgroups"])
def resource_groups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "no cgroups":

        def none(name: str, limits: SandboxLimits) -> ResourceGroup:
            return NoResourceGroup()

        monkeypatch.setattr(sandbox_process, "create_resource_group", none)
    return str(request.param)


async def test_every_writable_place_is_bounded(resource_groups: str) -> None:
    """Each writable mount is one of the known places, and filling it stops at its bound with "No space left"
    (device nodes in /dev are written as on any system; /dev itself is read-only)."""
    async with sample_sandboxes(BOUNDED) as sandboxes:
        box = sandboxes["default"]
        places = json.loads((await box.exec(["python3", "-c", WRITABLE_MOUNTS])).stdout)
        assert sorted(places) == sorted(EXPECTED_BOUNDS_MB), "a writable place without a known bound"
        for place, bound in EXPECTED_BOUNDS_MB.items():
            fill = await box.exec(
                ["sh", "-c", f"dd if=/dev/zero of={place}/fill bs=1M count={bound + 8}; du -m {place}/fill"],
                timeout=60,
            )
            assert "No space left on device" in fill.stderr, place
            assert int(fill.stdout.split()[0]) <= bound, place
            await box.exec(["rm", "-f", f"{place}/fill"])
        for read_only in ("/dev/fill", "/fill", "/usr/fill"):
            refused = await box.exec(["touch", read_only])
            assert "Read-only file system" in refused.stderr, read_only
        assert (await box.exec(["sh", "-c", "echo ok > /dev/null && echo written"])).stdout == "written\n"


async def test_a_write_past_the_file_size_limit_fails_with_file_too_large() -> None:
    config = BwrapConfig(limits=SandboxLimits(file_size_mb=4, work_mb=64))
    async with sample_sandboxes(config) as sandboxes:
        result = await sandboxes["default"].exec(["dd", "if=/dev/zero", "of=/work/big", "bs=1M", "count=8"])
    assert result.returncode == 1, "dd reports the error and exits, instead of being killed by SIGXFSZ (153)"
    assert "File too large" in result.stderr


async def test_pipelines_end_as_in_a_shell() -> None:
    """SIGPIPE is at its default for commands (the server protects itself otherwise)."""
    async with sample_sandboxes() as sandboxes:
        result = await sandboxes["default"].exec(["sh", "-c", "yes | head -n 2"], timeout=10)
    assert result.stdout == "y\ny\n"
    assert result.stderr == ""


async def test_a_full_tmpfs_gets_the_command_killed_not_the_exec_server() -> None:
    group = create_resource_group(f"probe-{uuid.uuid4().hex[:8]}", SandboxLimits())
    limited = group.limits_memory
    group.destroy()
    if not limited:
        pytest.skip("without a memory cgroup a tmpfs is bounded only by its own size, so memory cannot run out here")
    config = BwrapConfig(limits=SandboxLimits(memory_mb=64, work_mb=256, file_size_mb=512))
    async with sample_sandboxes(config) as sandboxes:
        box = sandboxes["default"]
        filled = await box.exec(["dd", "if=/dev/zero", "of=/work/fill", "bs=1M", "count=200"], timeout=60)
        assert filled.returncode == 137
        assert "because the sandbox ran out of memory (its limit is 64 MB" in filled.stderr
        await box.exec(["rm", "-f", "/work/fill"])
        assert (await box.exec(["echo", "the server lives"])).stdout == "the server lives\n"


DAEMONS = (
    "setsid sh -c 'sleep 300; : {m}-setsid' >/dev/null 2>&1 & "
    "(sh -c 'sleep 300; : {m}-double-fork' &) ; "
    "nohup sh -c 'sleep 300; : {m}-nohup' >/dev/null 2>&1 & "
    "python3 -c 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
    '        os.execvp("sh", ["sh", "-c", "sleep 300; : {m}-daemon"])\' ; '
    "sleep 300"
)


async def test_after_a_timeout_no_process_the_command_started_still_runs() -> None:
    marker = f"timed-out-{uuid.uuid4().hex}"
    async with sample_sandboxes() as sandboxes:
        box = sandboxes["default"]
        running = asyncio.ensure_future(box.exec(["sh", "-c", DAEMONS.format(m=marker)], timeout=3))
        for kind in ("setsid", "double-fork", "nohup", "daemon"):
            assert await asyncio.to_thread(processes_appearing_with, f"{marker}-{kind}"), f"the {kind} started"
        with pytest.raises(TimeoutError):
            await running
        assert await asyncio.to_thread(host_processes_with, marker) == []
        assert (await box.exec(["echo", "still serving"])).stdout == "still serving\n"


async def test_a_command_that_ends_in_time_leaves_its_background_processes_running() -> None:
    marker = f"background-{uuid.uuid4().hex}"
    async with sample_sandboxes() as sandboxes:
        box = sandboxes["default"]
        await box.exec(["sh", "-c", f"setsid sh -c 'sleep 300; : {marker}' >/dev/null 2>&1 &"], timeout=10)
        assert await asyncio.to_thread(processes_appearing_with, marker), "as a shell would"
    assert host_processes_with(marker) == [], "and the end of the sample ends it"


async def test_orphans_that_end_are_reaped() -> None:
    async with sample_sandboxes() as sandboxes:
        box = sandboxes["default"]
        await box.exec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do (sh -c 'exit 0' &) ; done"])
        await asyncio.sleep(1)
        zombies = await box.exec(["sh", "-c", "grep -l '^State:.Z' /proc/[0-9]*/status || true"])
    assert zombies.stdout == ""


def _zombies_of_host_init() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state, parent = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            except (OSError, ValueError):
                continue
            if state == "Z" and parent == "1":
                found.add(int(entry.name))
    return found


def test_the_support_check_leaves_no_zombie() -> None:
    before = _zombies_of_host_init()
    for _ in range(3):
        check_support.cache_clear()
        check_support(find_bwrap())
    time.sleep(0.3)
    assert _zombies_of_host_init() - before == set()


CLONE_PARENT_ESCAPE = r"""
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
CLONE_PARENT, SIGCHLD = 0x8000, 17
pid = libc.syscall(56, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0)
if pid == 0:
    import os, time
    os.setsid()
    time.sleep(300)  # ESCAPED
print(pid, ctypes.get_errno() == errno.EPERM, libc.syscall(435, 0, 0) == -1 and ctypes.get_errno() == errno.ENOSYS)
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the attempt uses x86-64 system call numbers")
async def test_a_process_cannot_be_made_the_servers_child_to_leave_its_commands_tree() -> None:
    """clone(CLONE_PARENT) would make the new process a sibling of the command, outside the tree a timeout kills."""
    async with sample_sandboxes() as sandboxes:
        result = await sandboxes["default"].exec(["python3", "-c", CLONE_PARENT_ESCAPE], timeout=10)
    assert result.stdout.split() == ["-1", "True", "True"], "clone(CLONE_PARENT) is refused, clone3 absent"


async def test_the_exec_server_ignores_an_interrupt_from_inside() -> None:
    async with sample_sandboxes() as sandboxes:
        box = sandboxes["default"]
        await box.exec(["sh", "-c", "kill -INT 1; kill -QUIT 1; kill -USR2 1; sleep 0.2"])
        assert (await box.exec(["echo", "still serving"])).stdout == "still serving\n"


async def test_writing_a_file_where_the_agent_left_a_fifo_replaces_it_instead_of_waiting() -> None:
    async with sample_sandboxes() as sandboxes:
        box = sandboxes["default"]
        await box.exec(["mkfifo", "/work/input.txt"])
        await asyncio.wait_for(box.write_file("/work/input.txt", "the grader's input\n"), 10)
        assert await box.read_file("/work/input.txt") == "the grader's input\n"
        kind = await box.exec(["stat", "-c", "%F", "/work/input.txt"])
        assert kind.stdout.strip() == "regular file"


async def test_a_refused_read_says_its_errno_once() -> None:
    async with sample_sandboxes() as sandboxes:
        box = sandboxes["default"]
        await box.exec(["sh", "-c", "echo x > /work/locked; chmod 000 /work/locked"])
        with pytest.raises(PermissionError) as refused:
            await box.read_file("/work/locked")
    assert str(refused.value).count("Errno 13") == 1
    assert refused.value.filename == "/work/locked"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may bound a sandbox's own pseudo-terminals")
async def test_a_sandbox_cannot_take_every_pseudo_terminal_of_the_machine() -> None:
    """bwrap's /dev/pts has no max=; one sandbox would otherwise empty the kernel's pool shared by every other."""
    config = BwrapConfig(limits=SandboxLimits(ptys=8))
    grab = "import pty\nn = 0\ntry:\n    while True:\n        pty.openpty(); n += 1\nexcept OSError:\n    print(n)"
    async with sample_sandboxes(config) as first, sample_sandboxes() as second:
        assert (await first["default"].exec(["python3", "-c", grab], timeout=20)).stdout.strip() == "8"
        other = await second["default"].exec(["python3", "-c", "import pty; pty.openpty(); print('a terminal')"])
        assert other.stdout == "a terminal\n"
