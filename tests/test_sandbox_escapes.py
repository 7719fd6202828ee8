"""Escape attempts against the bwrap sandbox. Each is contained, the host is unchanged, and the sandbox
still answers afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from inspect_ai.util import SandboxUnavailableError

from airlock.sandbox import BwrapConfig, BwrapSandboxEnvironment, SandboxError, SandboxLimits
from tests.support.sandboxes import host_processes_with, processes_appearing_with, processes_left_with, sample

pytestmark = pytest.mark.anyio

SMALL = BwrapConfig(limits=SandboxLimits(memory_mb=128, pids=48, work_mb=16, tmp_mb=16, file_size_mb=64))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def box() -> AsyncIterator[BwrapSandboxEnvironment]:
    async with sample(SMALL) as environments:
        yield environments["default"]
        # Whatever the test tried, the sandbox still works.
        assert (await environments["default"].exec(["echo", "still here"])).stdout == "still here\n"


async def sh(box: BwrapSandboxEnvironment, script: str, timeout: int = 20) -> tuple[int, str]:
    result = await box.exec(["sh", "-c", script], timeout=timeout)
    return result.returncode, result.stdout + result.stderr


async def test_a_fork_bomb_stops_at_the_process_limit_and_dies_with_its_timeout() -> None:
    marker = f"bomb-{uuid.uuid4().hex}"
    async with sample(SMALL) as environments:
        box = environments["default"]
        bomb = asyncio.ensure_future(box.exec(["bash", "-c", f"b() {{ b | b & }}; b; sleep 100 # {marker}"], timeout=5))
        await asyncio.sleep(2)
        # The bomb fills the sandbox's process table, and not one process more on the host.
        running = host_processes_with(marker)
        assert len(running) <= SMALL.limits.pids
        # The bomb can exhaust the sandbox's processes before the exec server has finished starting it (no thread
        # left to read its output): the server then ends it at once and reports it. Otherwise the command times
        # out. Either way every process of it is gone.
        if not running:
            assert bomb.done(), "the bomb is running, so its processes must show"
            with pytest.raises(SandboxError):
                await bomb
        with contextlib.suppress(SandboxError, TimeoutError):
            await bomb
        assert processes_left_with(marker) == []
        assert (await box.exec(["echo", "still here"])).stdout == "still here\n"


async def test_the_next_command_after_a_killed_process_storm_is_not_refused_for_its_zombies(
    box: BwrapSandboxEnvironment,
) -> None:
    # A command that holds every process of the sandbox when its timeout kills it, and never reaps its children
    # (as in a fork bomb, whose parents die with their children), leaves that many zombies to the sandbox's init,
    # which reaps them only now and then; the command right after, and what it forks, must still start.
    storm = (
        "import os, time\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "except BlockingIOError:\n"
        "    time.sleep(60)\n"
    )
    for _ in range(3):
        with pytest.raises(TimeoutError):
            await box.exec(["python3", "-c", storm], timeout=1)
        assert (await box.exec(["sh", "-c", "echo next | cat | cat"])).stdout == "next\n"


async def test_a_memory_bomb_is_killed_inside_its_sandbox(box: BwrapSandboxEnvironment) -> None:
    code, output = await sh(box, "python3 -c 'x = bytearray(1 << 30); print(len(x))'")
    if box.sandbox.process.group.limits_memory:
        assert code == 137, "killed by the kernel at the sandbox's memory limit"
        assert "because the sandbox ran out of memory (its limit is 128 MB" in output
    else:
        assert code == 1, "without a memory cgroup, RLIMIT_AS refuses the allocation"
        assert "MemoryError" in output


async def test_filling_the_disk_stops_at_the_work_directory_size(box: BwrapSandboxEnvironment) -> None:
    code, output = await sh(box, "dd if=/dev/zero of=/work/fill bs=1M count=100")
    assert code != 0
    assert "No space left on device" in output
    code, output = await sh(box, "dd if=/dev/zero of=/tmp/fill bs=1M count=100")
    assert "No space left on device" in output


async def test_host_secrets_are_not_there(box: BwrapSandboxEnvironment, tmp_path: Path) -> None:
    secret = tmp_path / "airlock-data" / "keys" / "master.key"
    secret.parent.mkdir(parents=True)
    secret.write_text("MASTER-KEY-MARKER")
    for path in ("/etc/shadow", "/etc/gshadow", "/root", "/home", str(secret), str(tmp_path), "/etc/ssh"):
        code, output = await sh(box, f"cat {path} || ls -la {path}")
        assert code != 0, path
        assert "No such file or directory" in output, path
    code, output = await sh(box, "grep -rs MASTER-KEY-MARKER /etc /work /tmp /run /var /dev 2>/dev/null | head -1")
    assert "MASTER-KEY-MARKER" not in output


async def test_nothing_outside_the_work_directory_can_be_written_on_the_host(box: BwrapSandboxEnvironment) -> None:
    marker = f"escape-{uuid.uuid4().hex}"
    for path in (f"/usr/{marker}", f"/usr/bin/{marker}", f"/lib/{marker}"):
        code, output = await sh(box, f"touch {path}")
        assert code != 0
        assert "Read-only file system" in output
    # /etc and /tmp are the sandbox's own: writable inside, invisible outside.
    await sh(box, f"touch /etc/{marker} /tmp/{marker}")
    assert not Path(f"/etc/{marker}").exists()
    assert not Path(f"/tmp/{marker}").exists()
    assert not Path(f"/usr/{marker}").exists()


async def test_a_server_on_the_hosts_loopback_cannot_be_reached(box: BwrapSandboxEnvironment) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        code, output = await sh(
            box, f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)\""
        )
        assert code != 0
        assert "Connection refused" in output
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


async def test_names_do_not_resolve(box: BwrapSandboxEnvironment) -> None:
    code, output = await sh(box, "python3 -c \"import socket; socket.getaddrinfo('example.com', 443)\"")
    assert code != 0
    assert "gaierror" in output


async def test_host_processes_cannot_be_seen_signalled_or_traced(box: BwrapSandboxEnvironment) -> None:
    host_sleeper = await asyncio.create_subprocess_exec("sleep", "30")
    try:
        pid = host_sleeper.pid
        code, output = await sh(box, f"kill -9 {pid}; ls /proc/{pid}")
        assert code != 0
        assert host_sleeper.returncode is None
        code, output = await sh(
            box,
            'python3 -c "import ctypes; libc = ctypes.CDLL(None); '
            f'print(libc.ptrace(16, {pid}, 0, 0), ctypes.get_errno())"',
        )
        assert output.split()[0] == "-1", "PTRACE_ATTACH to a host process fails"
        code, output = await sh(box, "ps -e -o pid= | wc -l")
        assert int(output.split()[0]) < 10, "only the sandbox's own processes are visible"
    finally:
        host_sleeper.kill()
        await host_sleeper.wait()


async def test_nothing_can_be_mounted_and_no_namespace_created(box: BwrapSandboxEnvironment) -> None:
    code, _output = await sh(box, "mount -t tmpfs none /work")
    assert code != 0
    code, _ = await sh(box, "unshare -r -m true")
    assert code != 0


async def test_setuid_programs_and_capabilities_give_nothing(box: BwrapSandboxEnvironment) -> None:
    code, output = await sh(box, "grep -E '^(NoNewPrivs|CapEff|CapPrm|CapBnd|Uid)' /proc/self/status")
    status = dict(line.split(":\t", 1) for line in output.strip().splitlines())
    assert status["CapEff"].strip() == "0000000000000000"
    assert status["CapBnd"].strip() == "0000000000000000"
    assert status["Uid"].split()[0] == "1000"
    if Path("/usr/bin/su").exists():
        code, output = await sh(box, "su -c 'id -u' root < /dev/null")
        assert code != 0


async def test_proc_leads_nowhere_outside(box: BwrapSandboxEnvironment) -> None:
    for script in (
        "echo escaped > /proc/sys/kernel/hostname",
        "echo b > /proc/sysrq-trigger",
        "ls /proc/1/root/root",
        "cat /proc/1/environ | grep -a AIRLOCK",
    ):
        code, _ = await sh(box, script)
        assert code != 0, script
    assert socket.gethostname() != "escaped"


async def test_no_process_outlives_the_sample() -> None:
    marker = f"leftover-{uuid.uuid4().hex}"
    async with sample(SMALL) as environments:
        await environments["default"].exec(
            [
                "sh",
                "-c",
                f"setsid nohup sh -c 'sleep 1000; : {marker}' >/dev/null 2>&1 & (sh -c 'sleep 900; : {marker}' &)",
            ]
        )
        assert processes_appearing_with(marker), "the background processes were running"
    await asyncio.sleep(0.1)
    assert host_processes_with(marker) == []


async def test_a_sample_interrupted_mid_command_leaves_nothing_behind() -> None:
    marker = f"interrupted-{uuid.uuid4().hex}"
    async with sample(SMALL) as environments:
        running = asyncio.ensure_future(environments["default"].exec(["sh", "-c", f"sleep 1000 # {marker}"]))
        assert await asyncio.to_thread(processes_appearing_with, marker), "the command was running"
        running.cancel()
    await asyncio.sleep(0.1)
    assert host_processes_with(marker) == []


async def test_a_sandbox_out_of_processes_says_so() -> None:
    async with sample(BwrapConfig(limits=SandboxLimits(pids=8))) as environments:
        box = environments["default"]
        with pytest.raises(SandboxError, match=r"run out of processes \(its limit is 8\)"):
            await box.exec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done"])
            for _ in range(3):
                await box.exec(["true"])


async def test_a_command_cannot_forge_the_exec_servers_replies(box: BwrapSandboxEnvironment) -> None:
    """The exec server runs as the same user as the commands; it is non-dumpable, so they can neither
    write on its line to the host nor trace it."""
    forged = '{"id": 999, "ok": true, "returncode": 0, "timed_out": false}'
    result = await box.exec(
        [
            "sh",
            "-c",
            "server=$(pgrep -o -x python3); "
            f"echo '{forged}' > /proc/$server/fd/1; "
            "python3 -c 'import ctypes, sys; print(ctypes.CDLL(None).ptrace(16, int(sys.argv[1]), 0, 0))' $server",
        ]
    )
    assert "Permission denied" in result.stderr
    assert result.stdout.strip() == "-1", "PTRACE_ATTACH to the exec server fails"
    assert (await box.exec(["echo", "genuine"])).stdout == "genuine\n"


GRAB_EVERY_DESCRIPTOR = """
import ctypes, json, os, socket, stat
libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_open, SYS_pidfd_getfd = 434, 438
grabbed = []
for pid in [int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:
    pidfd = libc.syscall(SYS_pidfd_open, pid, 0)
    if pidfd < 0:
        continue
    for target in range(0, 12):
        fd = libc.syscall(SYS_pidfd_getfd, pidfd, target, 0)
        if fd < 0:
            continue
        kind = stat.S_IFMT(os.fstat(fd).st_mode)
        grabbed.append([pid, target, 'socket' if kind == stat.S_IFSOCK else oct(kind)])
        try:
            os.write(fd, b'{"id": 1, "ok": true, "returncode": 0, "timed_out": false, "stdout_size": 6, '
                         b'"stderr_size": 0, "stdout_total": 6, "stderr_total": 0, "size": 0}\\nFORGED')
        except OSError:
            pass
print(json.dumps(grabbed))
"""


async def test_no_process_in_the_sandbox_can_reach_the_channel_to_the_host(box: BwrapSandboxEnvironment) -> None:
    """Not through bwrap's init (pid 1), nor the exec server, nor any sibling: no descriptor that can be
    taken from another process is the socket, and writing on what can be taken forges nothing."""
    result = await box.exec(["python3", "-c", GRAB_EVERY_DESCRIPTOR])
    grabbed = json.loads(result.stdout)
    assert all(kind != "socket" for _, _, kind in grabbed), grabbed
    assert (await box.exec(["echo", "genuine"])).stdout == "genuine\n"


async def test_the_exec_server_cannot_be_stopped_or_killed_from_inside(box: BwrapSandboxEnvironment) -> None:
    """The server is the sandbox's pid 1, and the kernel ignores signals that a namespace's own processes send
    to its init."""
    _code, output = await sh(box, "kill -STOP 1; kill -KILL 1; kill -TERM 1; sleep 0.2; grep State /proc/1/status")
    assert "State:\tS" in output or "State:\tR" in output, output
    assert (await box.exec(["echo", "still serving"])).stdout == "still serving\n"


async def test_a_frozen_exec_server_shuts_the_sandbox_down_instead_of_hanging() -> None:
    """Nothing inside can freeze the server (see above); should anything else, the evaluation does not hang."""
    async with sample(SMALL) as environments:
        box = environments["default"]
        server = box.sandbox.process.inner_pid
        os.kill(server, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(SandboxUnavailableError, match="was stopped"):
            await box.exec(["echo", "never answered"])
        assert time.monotonic() - started < 10


async def test_output_comes_back_even_when_a_background_child_keeps_the_stream_open(
    box: BwrapSandboxEnvironment,
) -> None:
    result = await box.exec(["sh", "-c", "echo hello; sleep 5 &"])
    assert result.stdout == "hello\n"
    result = await box.exec(["sh", "-c", "head -c 70000 /dev/zero | tr '\\0' x; sleep 5 &"])
    assert len(result.stdout) == 70000


KILLED_EVALUATION = """
import asyncio, sys
from airlock.sandbox import BwrapSandboxEnvironment

async def main():
    environments = await BwrapSandboxEnvironment.sample_init("killed", None, {})
    await environments["default"].exec(["sh", "-c", "setsid sh -c 'sleep 1000; : MARKER' >/dev/null 2>&1 &"])
    print("ready", flush=True)
    await asyncio.sleep(1000)

asyncio.run(main())
"""


def test_an_evaluation_killed_with_sigkill_takes_its_sandboxes_with_it(tmp_path: Path) -> None:
    marker = f"orphan-{uuid.uuid4().hex}"
    script = tmp_path / "evaluation.py"
    script.write_text(KILLED_EVALUATION.replace("MARKER", marker))
    evaluation = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert evaluation.stdout is not None
        assert evaluation.stdout.readline().strip() == "ready"
        assert processes_appearing_with(marker), "the sandboxed process started and outlived its shell"
        evaluation.kill()
        evaluation.wait(10)
    finally:
        if evaluation.poll() is None:
            evaluation.kill()
    deadline = time.monotonic() + 5
    while host_processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with(marker) == []


@pytest.mark.skipif(
    os.geteuid() != 0, reason="a service that switches users gets a range of ids only when Airlock is root"
)
async def test_a_service_that_switches_users_is_root_of_nothing_but_its_own_namespace() -> None:
    """A target written for a container starts as root and becomes another user (socat's su=, xinetd's user =): its
    sandbox maps a range of ids and keeps a container root's capabilities. A model that takes it over holds that
    root: it can become any of its own ids, and nothing more."""
    from airlock.sandbox import ServiceConfig
    from airlock.sandbox.bwrap import HOST_UIDS
    from airlock.sandbox.users import HOST_ID_BLOCKS

    config = BwrapConfig(
        network="private",
        limits=SMALL.limits,
        services=[
            ServiceConfig(name=name, command=["sleep", "300"], user="root", switch_users=True)
            for name in ("target", "neighbour")
        ],
    )
    async with sample(config) as environments:
        target = environments["target"]
        agent = environments["default"]
        code, output = await sh(target, "setpriv --reuid=65534 --regid=65534 --clear-groups id -u")
        assert (code, output.strip()) == (0, "65534"), "it may become nobody, as socat's su=nobody does"
        blocks = set()
        for service in ("target", "neighbour"):
            code, output = await sh(environments[service], "cat /proc/self/uid_map /proc/self/gid_map")
            for inside, host, count in (map(int, line.split()) for line in output.strip().splitlines()):
                assert (inside, count) == (0, 65536)
                assert HOST_ID_BLOCKS[0] <= host, "every id inside is a host id no account has"
                assert host + count <= HOST_ID_BLOCKS[1]
                assert HOST_UIDS[1] <= host, "nor a one-user sandbox"
                blocks.add(host)
        assert len(blocks) == 2, "two services never share their ids"
        code, output = await sh(target, "grep -E '^CapBnd' /proc/self/status")
        bounding = int(output.split()[1], 16)
        for capability in (21, 12, 13, 16, 19, 17):  # SYS_ADMIN, NET_ADMIN, NET_RAW, SYS_MODULE, SYS_PTRACE, SYS_RAWIO
            assert not bounding & (1 << capability), f"capability {capability} is not among a container root's"
        for attempt in (
            "unshare -U true",  # no user namespace inside it: the way to every other capability
            "unshare -m true",
            "mount -t tmpfs none /work",
            "touch /usr/bin/planted",  # the root filesystem is read-only for its root too
            "ip link set lo down",  # the sample's network belongs to the host's namespace, not to it
            "echo escaped > /proc/sys/kernel/hostname",
        ):
            code, output = await sh(target, attempt)
            assert code != 0, f"{attempt!r} succeeded: {output}"
        code, output = await sh(target, "kill -9 -1; echo done")
        assert (await agent.exec(["echo", "alive"])).stdout == "alive\n", "the agent's sandbox is out of its reach"
