"""Attacks on a compose service that switches users, from its own root: a model that exploits a target gets a shell
as root of the target's sandbox, which maps 65,536 ids in a user namespace of its own and keeps a container root's
capabilities there (:mod:`airlock.sandbox.users`). Each test takes such a service over and tries one way out:
regaining a capability or a namespace, reaching into the exec server, changing the host files it sees, outgrowing
its limits by spreading over many ids, planting code for the server, touching another sandbox of the sample, or
outliving the evaluation that started it. Each is refused; the one that is not (the server's OOM score) is marked.

The attacks that need a system call the shell has no command for are written in C, compiled with the machine's
own compiler (the one a sandbox on the host's /usr offers the model too) and run inside.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from airlock.sandbox import BwrapConfig, BwrapSandboxEnvironment, SandboxLimits
from airlock.sandbox.bwrap import HOST_UIDS, SANDBOX_UID, host_python, system_tool
from airlock.sandbox.images import ImageStore
from airlock.sandbox.users import CLAIMS, HOST_ID_BLOCKS, RANGE, SERVICE_CAPABILITIES, claim_block, user_range_namespace
from tests.support.sandboxes import host_processes_with, processes_appearing_with, sample

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        os.geteuid() != 0, reason="a service gets a range of ids to switch between only when Airlock runs as root"
    ),
]

LIMITS = SandboxLimits(memory_mb=256, pids=32, work_mb=8, tmp_mb=8, file_size_mb=64)
NOBODY = 65534
CAPABILITY_NUMBERS = {
    "CAP_CHOWN": 0,
    "CAP_DAC_OVERRIDE": 1,
    "CAP_FOWNER": 3,
    "CAP_FSETID": 4,
    "CAP_KILL": 5,
    "CAP_SETGID": 6,
    "CAP_SETUID": 7,
    "CAP_SETPCAP": 8,
    "CAP_NET_BIND_SERVICE": 10,
    "CAP_SYS_CHROOT": 18,
}

PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static char stack[1 << 16];
static int nothing(void *unused) { return 0; }
static const char *hidden;  /* a host path the chroot escape looks for */

static int join_own(const char *kind) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", kind);
    int fd = open(path, O_RDONLY);
    return fd < 0 ? -1 : setns(fd, 0);
}

static int grab_server_descriptor(void) {
    int pidfd = syscall(SYS_pidfd_open, 1, 0);
    if (pidfd < 0) return -1;
    for (int fd = 0; fd < 64; fd++) {
        int got = syscall(SYS_pidfd_getfd, pidfd, fd, 0);
        if (got >= 0) return 0;
        if (errno != EBADF) return -1;
    }
    errno = EBADF;
    return -1;
}

static int add_capabilities(void) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    data[0].effective |= (1u << CAP_SYS_ADMIN) | (1u << CAP_SYS_PTRACE) | (1u << CAP_DAC_READ_SEARCH);
    data[0].permitted |= (1u << CAP_SYS_ADMIN) | (1u << CAP_SYS_PTRACE) | (1u << CAP_DAC_READ_SEARCH);
    return syscall(SYS_capset, &header, data);
}

static int open_by_handle(void) {
    struct { struct file_handle handle; unsigned char bytes[128]; } buffer;
    int mount_id;
    buffer.handle.handle_bytes = sizeof buffer.bytes;
    if (name_to_handle_at(AT_FDCWD, "/usr/bin", &buffer.handle, &mount_id, 0) != 0) return -1;
    int usr = open("/usr", O_RDONLY | O_DIRECTORY);
    return open_by_handle_at(usr, &buffer.handle, O_RDONLY) < 0 ? -1 : 0;
}

static int escape_chroot(void) {
    mkdir("/work/jail", 0755);
    int outside = open("/", O_RDONLY | O_DIRECTORY);
    if (chroot("/work/jail") != 0) return -1;
    if (fchdir(outside) != 0) return -1;
    for (int i = 0; i < 64; i++) chdir("..");
    if (chroot(".") != 0) return -1;
    return access(hidden, F_OK);  /* 0 would mean the host's tree is reachable */
}

static int raise_hard_limit(void) {
    struct rlimit limit = {RLIM_INFINITY, RLIM_INFINITY};
    return setrlimit(RLIMIT_FSIZE, &limit);
}

static int trace_server(int how) {
    return ptrace(how, 1, 0, 0) == 0 ? 0 : -1;
}

static int read_server_memory(void) {
    char buffer[16];
    struct iovec local = {buffer, sizeof buffer}, remote = {(void *)0x400000, sizeof buffer};
    return process_vm_readv(1, &local, 1, &remote, 1, 0) < 0 ? -1 : 0;
}

static int attack(const char *name) {
    if (!strcmp(name, "clone_newuser")) {
        int pid = clone(nothing, stack + sizeof stack, CLONE_NEWUSER | SIGCHLD, NULL);
        if (pid > 0) waitpid(pid, NULL, 0);
        return pid < 0 ? -1 : 0;
    }
    if (!strcmp(name, "unshare_user")) return unshare(CLONE_NEWUSER);
    if (!strcmp(name, "unshare_mount")) return unshare(CLONE_NEWNS);
    if (!strcmp(name, "unshare_net")) return unshare(CLONE_NEWNET);
    if (!strcmp(name, "unshare_pid")) return unshare(CLONE_NEWPID);
    if (!strcmp(name, "unshare_uts")) return unshare(CLONE_NEWUTS);
    if (!strcmp(name, "unshare_ipc")) return unshare(CLONE_NEWIPC);
    if (!strcmp(name, "unshare_cgroup")) return unshare(CLONE_NEWCGROUP);
    if (!strcmp(name, "unshare_time")) return unshare(CLONE_NEWTIME);
    if (!strcmp(name, "setns_own_user")) return join_own("user");
    if (!strcmp(name, "setns_own_mount")) return join_own("mnt");
    if (!strcmp(name, "setns_own_net")) return join_own("net");
    if (!strcmp(name, "open_server_namespace")) return open("/proc/1/ns/user", O_RDONLY) < 0 ? -1 : 0;
    if (!strcmp(name, "open_server_memory")) return open("/proc/1/mem", O_RDONLY) < 0 ? -1 : 0;
    if (!strcmp(name, "open_server_environment")) return open("/proc/1/environ", O_RDONLY) < 0 ? -1 : 0;
    if (!strcmp(name, "open_server_channel")) return open("/proc/1/fd/0", O_RDONLY) < 0 ? -1 : 0;
    if (!strcmp(name, "open_server_root")) return open("/proc/1/root/", O_RDONLY) < 0 ? -1 : 0;
    if (!strcmp(name, "ptrace_attach_server")) return trace_server(PTRACE_ATTACH);
    if (!strcmp(name, "ptrace_seize_server")) return trace_server(PTRACE_SEIZE);
    if (!strcmp(name, "read_server_memory")) return read_server_memory();
    if (!strcmp(name, "take_server_descriptor")) return grab_server_descriptor();
    if (!strcmp(name, "capset_beyond_bounding")) return add_capabilities();
    if (!strcmp(name, "ambient_sys_admin")) return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_SYS_ADMIN, 0, 0);
    if (!strcmp(name, "mount_tmpfs")) return mount("none", "/work", "tmpfs", 0, NULL);
    if (!strcmp(name, "remount_usr_writable")) return mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL);
    if (!strcmp(name, "unmount_proc")) return umount2("/proc", MNT_DETACH);
    if (!strcmp(name, "pivot_root")) return syscall(SYS_pivot_root, "/work", "/work");
    if (!strcmp(name, "mknod_memory_device")) return mknod("/work/mem", S_IFCHR | 0600, makedev(1, 1));
    if (!strcmp(name, "sethostname")) return sethostname("escaped", 7);
    if (!strcmp(name, "raise_hard_limit")) return raise_hard_limit();
    if (!strcmp(name, "open_by_handle")) return open_by_handle();
    if (!strcmp(name, "iopl")) return syscall(SYS_iopl, 3);
    if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 1, 0);
    if (!strcmp(name, "setuid_past_the_range")) return setresuid(65536, 65536, 65536);
    if (!strcmp(name, "setgid_past_the_range")) return setresgid(65536, 65536, 65536);
    if (!strcmp(name, "escape_chroot")) return escape_chroot();
    if (!strcmp(name, "kill_server")) return kill(1, SIGKILL);
    fprintf(stderr, "unknown attack %s\n", name);
    exit(2);
}

int main(int argc, char **argv) {
    hidden = getenv("HIDDEN") ? getenv("HIDDEN") : "/nonexistent";
    for (int i = 1; i < argc; i++) {
        fflush(stdout);
        pid_t child = fork();
        if (child == 0) {  /* each attack alone, in a process of its own */
            errno = 0;
            int result = attack(argv[i]);
            printf("%s %d\n", argv[i], result == 0 ? 0 : errno);
            fflush(stdout);
            _exit(0);
        }
        waitpid(child, NULL, 0);
    }
    return 0;
}
"""

NAMESPACE_ATTACKS = (
    "clone_newuser",
    "unshare_user",
    "unshare_mount",
    "unshare_net",
    "unshare_pid",
    "unshare_uts",
    "unshare_ipc",
    "unshare_cgroup",
    "unshare_time",
    "setns_own_user",
    "setns_own_mount",
    "setns_own_net",
)
CAPABILITY_ATTACKS = (
    "capset_beyond_bounding",
    "ambient_sys_admin",
    "mount_tmpfs",
    "remount_usr_writable",
    "unmount_proc",
    "pivot_root",
    "mknod_memory_device",
    "sethostname",
    "raise_hard_limit",
    "open_by_handle",
    "iopl",
    "keyctl",
    "setuid_past_the_range",
    "setgid_past_the_range",
)
SERVER_ATTACKS = (
    "open_server_namespace",
    "open_server_memory",
    "open_server_environment",
    "open_server_channel",
    "open_server_root",
    "ptrace_attach_server",
    "ptrace_seize_server",
    "read_server_memory",
    "take_server_descriptor",
    "kill_server",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The attacks in C, compiled once with the machine's compiler."""
    compiler = shutil.which("gcc", path="/usr/bin:/bin")
    if compiler is None:
        pytest.skip("gcc is not installed: the attacks written in C cannot be compiled")
    directory = tmp_path_factory.mktemp("probe")
    (directory / "probe.c").write_text(PROBE)
    subprocess.run(
        [compiler, "-O1", "-o", str(directory / "probe"), str(directory / "probe.c")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return (directory / "probe").read_bytes()


def services(*names: str, user: str = "root", network: str = "hosts", **options: object) -> BwrapConfig:
    """A sample whose services switch users, as a compose file's do where Airlock is root: each a host of its own
    (the sample's one loopback where ``network`` is private), on a small budget so attacks on limits end quickly."""
    return BwrapConfig.model_validate(
        {
            "network": network,
            "limits": LIMITS.model_dump(),
            "services": [
                {
                    "name": name,
                    "command": ["sleep", "300"],
                    "user": user,
                    "switch_users": True,
                    "limits": LIMITS.model_dump(),
                    **options,
                }
                for name in names
            ],
        }
    )


async def sh(box: BwrapSandboxEnvironment, script: str, timeout: int = 30) -> tuple[int, str]:
    result = await box.exec(["sh", "-c", script], timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def as_user(uid: int | None) -> str:
    """The prefix that runs a command as ``uid``, switching to it as a target does (nothing for root)."""
    return "" if uid is None else f"setpriv --reuid={uid} --regid={uid} --clear-groups "


def eventually(condition: Callable[[], bool], within_seconds: float = 5.0) -> bool:
    """Whether ``condition`` holds within ``within_seconds`` (processes start and end a moment after they are told)."""
    give_up = time.monotonic() + within_seconds
    while not condition():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.05)
    return True


async def attack(
    box: BwrapSandboxEnvironment, binary: bytes, names: tuple[str, ...], *, as_uid: int | None = None, **env: str
) -> dict[str, int]:
    """Run the named attacks in ``box`` (as ``as_uid`` where given, after switching to it as a target would) and
    return each one's errno: 0 where it succeeded."""
    await box.write_file("/work/probe", binary)
    result = await box.exec(
        ["sh", "-c", f"chmod 755 /work/probe && {as_user(as_uid)}/work/probe {' '.join(names)}"], env=env
    )
    assert result.returncode == 0, result.stderr
    outcomes = dict(line.split() for line in result.stdout.splitlines())
    assert set(outcomes) == set(names), f"every attack reported: {result.stdout} {result.stderr}"
    return {name: int(value) for name, value in outcomes.items()}


def first_host_id(box: BwrapSandboxEnvironment) -> tuple[int, int]:
    """The first host user id and the count of ids the sandbox maps, as the host sees it (not as the sandbox says)."""
    _, host, count = map(int, Path(f"/proc/{box.sandbox.process.inner_pid}/uid_map").read_text().split())
    return host, count


def host_processes_of(first: int, count: int) -> list[tuple[int, int]]:
    """Host (pid, uid) of every process whose real user id is one of ``count`` ids from ``first``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:  # it ended meanwhile
                continue
            uid = int(status.split("\nUid:")[1].split()[0])
            if first <= uid < first + count:
                found.append((int(entry.name), uid))
    return found


def claim_is_free(block: int) -> bool:
    """Whether nothing holds the claim on ``block`` (taking it for a moment, as a sandbox starting would)."""
    path = CLAIMS / str(block)
    if not path.exists():
        return True
    with path.open("rb") as claim:
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(claim, fcntl.LOCK_UN)
        return True


@contextlib.asynccontextmanager
async def taken_over(config: BwrapConfig) -> AsyncIterator[dict[str, BwrapSandboxEnvironment]]:
    """The sample's sandboxes; every service still answers once the attack is over (the attack did not get its
    target's sandbox shut down either)."""
    async with sample(config) as environments:
        yield environments
        for name, box in environments.items():
            assert (await box.exec(["echo", "still here"])).stdout == "still here\n", name


async def test_a_taken_over_service_can_make_no_namespace_of_any_kind(probe: bytes) -> None:
    """A new user namespace is the door to every capability (its creator holds all of them in it): clone or unshare
    with CLONE_NEWUSER, from root or from any id root switches to, fails because the namespace is closed to nested
    ones (ENOSPC, user.max_user_namespaces 0), and every other kind needs CAP_SYS_ADMIN, which is not there."""
    async with taken_over(services("target")) as environments:
        target = environments["target"]
        for uid in (None, NOBODY, SANDBOX_UID, 4242):
            outcomes = await attack(target, probe, NAMESPACE_ATTACKS, as_uid=uid)
            assert outcomes["clone_newuser"] == errno.ENOSPC, uid
            assert outcomes["unshare_user"] == errno.ENOSPC, uid
            succeeded = [name for name, error in outcomes.items() if error == 0]
            assert succeeded == [], f"as {uid}: {succeeded}"
        for command in ("unshare -U true", "unshare -Ur true", "unshare -m true", "unshare -n true"):
            code, output = await sh(target, command)
            assert code != 0, f"{command!r} succeeded: {output}"
        code, output = await sh(
            target, "cat /proc/sys/user/max_user_namespaces; echo 10 > /proc/sys/user/max_user_namespaces"
        )
        assert code != 0
        assert output.splitlines()[0] == "0"


async def test_a_taken_over_service_regains_no_capability_beyond_a_container_roots(
    probe: bytes, tmp_path: Path
) -> None:
    """Root holds exactly a container root's capabilities, and none of the ways to more works: capset and ambient
    raises past the bounding set, mounts, pivot_root, device nodes, hard limits, open_by_handle_at, I/O ports, kernel
    keyrings, ids outside the 65,536 mapped, and a chroot escape (it ends at the sandbox's own root)."""
    hidden = tmp_path / "host-only"
    hidden.write_text("the host's")
    async with taken_over(services("target")) as environments:
        target = environments["target"]
        _, output = await sh(target, "grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status")
        expected = sum(1 << CAPABILITY_NUMBERS[name] for name in SERVICE_CAPABILITIES)
        assert {int(line.split()[1], 16) for line in output.splitlines()} == {expected}, output
        outcomes = await attack(target, probe, (*CAPABILITY_ATTACKS, "escape_chroot"), HIDDEN=str(hidden))
        succeeded = [name for name, error in outcomes.items() if error == 0]
        assert succeeded == [], succeeded
        assert outcomes["setuid_past_the_range"] == errno.EINVAL, "an id the namespace does not map does not exist"
        assert outcomes["escape_chroot"] == errno.ENOENT, "out of a chroot is the sandbox's root, not the host's"
        # Leaving root for another id leaves every capability behind, as in a container.
        _, output = await sh(target, f"{as_user(NOBODY)}grep ^CapEff /proc/self/status")
        assert int(output.split()[1], 16) == 0


@pytest.mark.parametrize("user", ["root", "sandbox"])
async def test_a_taken_over_service_cannot_reach_into_its_exec_server(probe: bytes, user: str) -> None:
    """The exec server (pid 1) holds the channel to the evaluator. Root of the service has no CAP_SYS_PTRACE, and the
    server is non-dumpable, also once it has become a compose file's user (whom the model then is, with no capability
    at all): no ptrace, no /proc/1/mem, environ, fd or root, no pidfd_getfd, and SIGKILL and SIGSTOP are ignored."""
    async with taken_over(services("target", user=user)) as environments:
        target = environments["target"]
        _, output = await sh(target, "id -u; grep ^Uid /proc/1/status")
        own, server = output.split()[0], output.split()[2]
        assert own == server == ("0" if user == "root" else str(SANDBOX_UID)), "the attacker is the server's own user"
        outcomes = await attack(target, probe, SERVER_ATTACKS)
        succeeded = [name for name, error in outcomes.items() if error == 0 and name != "kill_server"]
        assert succeeded == [], succeeded
        _, output = await sh(target, "kill -9 1; kill -STOP 1; kill -9 -1; echo sent")
        assert "sent" in output, "and the server still answers (see taken_over)"


@pytest.mark.xfail(
    strict=True,
    reason=(
        "root of a switching service owns the non-dumpable server's /proc/1 files (they belong to its namespace's "
        "root, which is mapped), so it can raise the server's oom_score_adj to 1000: a memory hog at score 0 then "
        "got the server OOM-killed and the service's sandbox ended (1 run in 3 here). The one-user sandbox's "
        "root is unmapped, so its commands cannot. Harm stays in the model's own sample (docs/sandbox.md)."
    ),
)
async def test_a_taken_over_service_cannot_make_its_exec_server_the_oom_killers_choice() -> None:
    async with sample(services("target")) as environments:
        target = environments["target"]
        score = Path(f"/proc/{target.sandbox.process.inner_pid}/oom_score_adj")
        before = score.read_text()
        await sh(target, "echo 1000 > /proc/1/oom_score_adj")
        assert score.read_text() == before


async def test_a_taken_over_service_cannot_change_the_host_files_it_sees() -> None:
    """CAP_CHOWN, CAP_FOWNER and CAP_DAC_OVERRIDE act only on files whose owner the namespace maps: the host's files
    in the sandbox (its /usr, /etc files passed through, device nodes bound read-write, the server's own files, /proc's
    settings) belong to host ids it does not map, shown as nobody. Neither root nor the namespace's own nobody (65534,
    the name those files show) may change them."""
    watched = [Path(path) for path in ("/usr/bin/env", "/dev/null", "/etc/ld.so.cache") if Path(path).exists()]
    before = {path: (path.stat().st_mode, path.stat().st_uid, path.stat().st_gid) for path in watched}
    sysctls = [Path("/proc/sys/kernel/hostname"), Path("/proc/sys/user/max_user_namespaces")]
    settings = {path: path.read_text() for path in sysctls}
    private = [path for path in ("/etc/ssl/private",) if Path(path).is_dir() and not os.stat(path).st_mode & 0o004]
    attempts = [
        *(f"chmod 4777 {path}" for path in watched),
        *(f"chown {NOBODY}:{NOBODY} {path}" for path in watched),
        "echo planted >> /usr/bin/env",
        "echo planted >> /run/airlock/execd.py",
        "chmod 777 /run/airlock/execd.py",
        "echo escaped > /proc/sys/kernel/hostname",
        "echo 100 > /proc/sys/user/max_user_namespaces",
        "echo '|/work/x' > /proc/sys/kernel/core_pattern",
        "echo b > /proc/sysrq-trigger",
        "ls /sys/fs/cgroup",
        "mkdir -p /work/cg && mount -t cgroup2 none /work/cg",
        *(f"ls {path}" for path in private),
    ]
    async with taken_over(services("target")) as environments:
        target = environments["target"]
        for uid in (None, NOBODY):
            for attempt in attempts:
                script = attempt if uid is None else f"{as_user(uid)}sh -c {shlex.quote(attempt)}"
                code, output = await sh(target, script)
                assert code != 0, f"as {uid or 'root'}: {attempt!r} succeeded: {output}"
    assert {path: (path.stat().st_mode, path.stat().st_uid, path.stat().st_gid) for path in watched} == before
    assert {path: path.read_text() for path in sysctls} == settings


@pytest.mark.parametrize("network", ["hosts", "private"])
async def test_a_taken_over_service_cannot_change_any_network_setting(network: str) -> None:
    """As a host of its own, the service's network namespace is its user namespace's: root there would reconfigure it
    with CAP_NET_ADMIN or sniff and spoof with CAP_NET_RAW, neither of which it has. On the sample's one loopback, the
    namespace is the agent's sandbox's, where the service's root is nobody at all."""
    attempts = (
        "ip link set lo down",
        "ip addr add 10.99.0.7/24 dev lo",
        "ip link add planted type dummy",
        "ip route add 10.98.0.0/16 dev lo",
        "echo 1 > /proc/sys/net/ipv4/ip_forward",
        "echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start",
        "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet",
        "python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'",
        "python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'",
    )
    async with taken_over(services("target", network=network)) as environments:
        target = environments["target"]
        _, before = await sh(target, "ip -o addr; ip -o link; ip route; sysctl -a 2>/dev/null | grep '^net' | sort")
        for attempt in attempts:
            code, output = await sh(target, attempt)
            assert code != 0, f"{attempt!r} succeeded on the {network} network: {output}"
        _, after = await sh(target, "ip -o addr; ip -o link; ip route; sysctl -a 2>/dev/null | grep '^net' | sort")
        assert after == before


async def test_a_taken_over_service_cannot_outgrow_its_process_limit_by_switching_users() -> None:
    """RLIMIT_NPROC counts per user, so a fork bomb spread over many ids would escape it; the cgroup's pids limit
    counts the sandbox's processes whoever runs them."""
    storm = (
        "import os\n"
        "made = 0\n"
        "for uid in range(2000, 2400):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)\n"
        "        os.dup2(os.open('/dev/null', os.O_WRONLY), 1)\n"
        "        os.execv('/usr/bin/sleep', ['sleep', '60'])\n"
        "    made += 1\n"
        "print(made)\n"
    )
    async with taken_over(services("target")) as environments:
        target = environments["target"]
        if target.sandbox.process.group.kind == "rlimit":
            pytest.skip("no cgroup here: a sandbox has no limit on its processes as a whole (docs/sandbox.md)")
        first, count = first_host_id(target)
        result = await target.exec(["python3", "-c", storm], timeout=30)
        assert result.returncode == 0, result.stderr
        running = host_processes_of(first, count)
        assert 10 < int(result.stdout) < LIMITS.pids
        assert len(running) <= LIMITS.pids
        assert len({uid for _, uid in running}) > 10, "the processes did run as many users"
        await sh(target, "kill -9 -1")


async def test_a_taken_over_service_cannot_outgrow_its_disk_limits_as_root_or_any_user() -> None:
    """tmpfs sizes hold for root too (no CAP_SYS_RESOURCE, no remount): /work and /tmp stop at their limits, and the
    small private mounts (/dev/shm, /run, /etc) at theirs, whoever writes and however many users share the work."""
    async with taken_over(services("target")) as environments:
        target = environments["target"]
        code, _ = await sh(target, "chmod 1777 /work /run /etc")
        assert code == 0, "root owns the sandbox's own writable places"
        for uid in (None, NOBODY, 3000):
            for directory in ("/work", "/tmp", "/var/tmp"):
                code, output = await sh(
                    target, f"{as_user(uid)}dd if=/dev/zero of={directory}/fill-{uid} bs=1M count=32"
                )
                assert code != 0
                assert "No space left on device" in output
        for directory in ("/work", "/tmp", "/var/tmp"):
            code, output = await sh(target, f"du -sk {directory}")
            assert int(output.split()[0]) <= LIMITS.work_mb * 1024
        for directory in ("/dev/shm", "/run", "/etc"):
            code, output = await sh(target, f"dd if=/dev/zero of={directory}/fill bs=1M count=64")
            assert "No space left on device" in output, directory
        code, output = await sh(target, "mount -o remount,size=1G /work")
        assert code != 0
        await sh(target, "rm -f /work/fill* /tmp/fill* /var/tmp/fill* /dev/shm/fill /run/fill /etc/fill")


async def test_a_taken_over_service_becomes_only_its_own_ids_and_signals_no_other_sandbox() -> None:
    """Two services' blocks never overlap, nor meet the one-user sandboxes' ids; every id the target can become
    is in its own block; and CAP_KILL reaches only its own pid namespace: the agent's and the neighbour's processes
    live through root's kill -9 -1."""
    marker = f"survivor-{uuid.uuid4().hex}"
    async with taken_over(services("target", "neighbour")) as environments:
        target, neighbour, agent = environments["target"], environments["neighbour"], environments["default"]
        for box in (agent, neighbour):
            # exec -a names the sleeper by the marker: one process, whose pid stays as bash becomes sleep.
            await box.exec(["sh", "-c", f"setsid bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 &"])

        def sleepers() -> list[int]:
            """The two sleepers (not the shells that started them, which exit at their own pace)."""
            found = []
            for pid in host_processes_with(marker):
                with contextlib.suppress(OSError):
                    if b"setsid" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        found.append(pid)
            return sorted(found)

        assert eventually(lambda: len(sleepers()) == 2)
        survivors = sleepers()
        blocks = {name: first_host_id(environments[name]) for name in ("target", "neighbour")}
        for first, count in blocks.values():
            assert count == RANGE
            assert HOST_ID_BLOCKS[0] <= first
            assert first + count <= HOST_ID_BLOCKS[1]
            assert HOST_UIDS[1] <= first, "above every one-user sandbox's id"
        (target_first, _), (neighbour_first, _) = blocks["target"], blocks["neighbour"]
        assert abs(target_first - neighbour_first) >= RANGE, "the blocks do not overlap"
        agent_host_uid = first_host_id(agent)[0]
        assert agent_host_uid < HOST_UIDS[1]
        became = (1, 1000, 31337, NOBODY, RANGE - 1)
        for uid in became:
            await sh(target, f"{as_user(uid)}sleep 30 >/dev/null 2>&1 &")
        assert eventually(
            lambda: {target_first + uid for uid in became} <= {uid for _, uid in host_processes_of(target_first, RANGE)}
        ), "each id inside is its own block's id on the host"
        _, output = await sh(target, f"kill -9 -1; {as_user(NOBODY)}kill -9 -1; echo sent")
        assert "sent" in output
        assert sleepers() == survivors, "nothing outside the target's sandbox was killed"


async def test_the_agents_sandbox_beside_a_switching_service_keeps_one_user_and_sees_nothing_of_it() -> None:
    """The model's own sandbox in the same sample is still the one-user sandbox: one id, no capability, no namespace
    to make, no other user to become, and nothing of the service visible in it but the network (no process, no
    System V IPC object)."""
    marker = f"service-{uuid.uuid4().hex}"
    config = services("target", command=["sh", "-c", f"sleep 300; : {marker}"])
    async with taken_over(config) as environments:
        agent, target = environments["default"], environments["target"]
        assert processes_appearing_with(marker), "the service runs"
        code, output = await sh(agent, "cat /proc/self/uid_map; grep -E '^Cap(Prm|Eff|Bnd|Amb)' /proc/self/status")
        lines = output.splitlines()
        inside, host, count = map(int, lines[0].split())
        assert (inside, count) == (SANDBOX_UID, 1)
        assert len(lines) == 5
        assert host < HOST_UIDS[1], "not an id of any service's block"
        assert {int(line.split()[1], 16) for line in lines[1:]} == {0}
        for attempt in ("unshare -U true", "setpriv --reuid=0 true", f"setpriv --reuid={NOBODY} true"):
            code, output = await sh(agent, attempt)
            assert code != 0, f"{attempt!r} succeeded: {output}"
        itself = f"{marker[:8]}[{marker[8]}]{marker[9:]}"  # a pattern that does not match its own grep
        code, output = await sh(agent, f"grep -l '{itself}' /proc/[0-9]*/cmdline; echo done")
        assert output.strip() == "done", "the service's processes are not in the agent's view"
        code, output = await sh(target, "ipcmk -M 4096 && ipcmk -Q && ipcs -m -q | grep -c 0x")
        assert code == 0, output
        assert int(output.split()[-1]) == 2
        code, output = await sh(agent, "ipcs -m -q | grep -c 0x; true")
        assert int(output.split()[-1]) == 0


async def test_a_switching_services_ids_are_released_with_its_sample() -> None:
    async with sample(services("target", user="root")) as environments:
        first, count = first_host_id(environments["target"])
        await sh(
            environments["target"], "setpriv --reuid=7 --regid=7 --clear-groups setsid sleep 300 >/dev/null 2>&1 &"
        )
        assert not claim_is_free(first), "held while the sandbox lives"
    assert host_processes_of(first, count) == []
    assert claim_is_free(first)


KILLED_EVALUATION = """
import asyncio, json, sys
from pathlib import Path
from airlock.sandbox import BwrapConfig, BwrapSandboxEnvironment

async def main():
    config = BwrapConfig.model_validate_json(sys.argv[1])
    environments = await BwrapSandboxEnvironment.sample_init("killed", config, {})
    blocks = []
    for name in ("root-target", "user-target"):
        box = environments[name]
        blocks.append(int(Path(f"/proc/{box.sandbox.process.inner_pid}/uid_map").read_text().split()[1]))
    for uid in (0, 65534, 31337):
        switch = f"setpriv --reuid={uid} --regid={uid} --clear-groups"
        await environments["root-target"].exec(
            ["sh", "-c", f"{switch} setsid sh -c 'sleep 1000; : MARKER' >/dev/null 2>&1 &"])
    await environments["user-target"].exec(["sh", "-c", "setsid sh -c 'sleep 1000; : MARKER' >/dev/null 2>&1 &"])
    print(json.dumps(blocks), flush=True)
    await asyncio.sleep(1000)

asyncio.run(main())
"""


def test_a_killed_evaluation_leaves_no_process_of_a_switching_service_and_frees_its_ids(tmp_path: Path) -> None:
    """SIGKILL of the evaluator runs no cleanup of Airlock's: the kernel must end everything, processes that switched
    users included. A server that became a compose file's user has lost bwrap's parent-death signal (setresuid clears
    it); it still ends, when its channel to the dead evaluator closes."""
    marker = f"orphan-{uuid.uuid4().hex}"
    script = tmp_path / "evaluation.py"
    script.write_text(KILLED_EVALUATION.replace("MARKER", marker))
    config = BwrapConfig.model_validate(
        {
            "network": "private",
            "services": [
                {"name": "root-target", "command": ["sleep", "1000"], "user": "root", "switch_users": True},
                {"name": "user-target", "command": ["sleep", "1000"], "user": "sandbox", "switch_users": True},
            ],
        }
    )
    evaluation = subprocess.Popen(
        [sys.executable, str(script), config.model_dump_json()], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert evaluation.stdout is not None
        blocks = json.loads(evaluation.stdout.readline())
        assert eventually(lambda: len(host_processes_with(marker)) >= 4), "the orphans started, as several users"
        assert not any(claim_is_free(block) for block in blocks)
        evaluation.send_signal(signal.SIGKILL)
        evaluation.wait(10)
    finally:
        if evaluation.poll() is None:
            evaluation.kill()
    eventually(lambda: not host_processes_with(marker) and not any(host_processes_of(b, RANGE) for b in blocks))
    assert host_processes_with(marker) == []
    assert [host_processes_of(block, RANGE) for block in blocks] == [[], []]
    assert all(claim_is_free(block) for block in blocks)


def test_a_namespace_made_for_a_block_admits_no_other_sandboxs_user_and_is_closed_before_it_is_handed_out() -> None:
    """Between its making and its sandbox, a block's namespace is open only to host root and the block's own first
    id (its owner, as the sandbox's launcher runs): another block's root or a one-user sandbox's user cannot join
    it, and by the time its descriptor is handed out even its owner can make no namespace inside."""
    setpriv, nsenter = system_tool("setpriv"), system_tool("nsenter")
    block, claim = claim_block()
    try:
        namespace = user_range_namespace(block)
        try:

            def as_user(uid: int, *command: str) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [
                        setpriv,
                        f"--reuid={uid}",
                        f"--regid={uid}",
                        "--clear-groups",
                        "--no-new-privs",
                        nsenter,
                        f"--user=/proc/self/fd/{namespace}",
                        "--preserve-credentials",
                        *command,
                    ],
                    pass_fds=(namespace,),
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=False,
                )

            joined = as_user(block, "cat", "/proc/self/uid_map")
            assert joined.stdout.split() == ["0", str(block), str(RANGE)], joined.stderr
            nested = as_user(block, "unshare", "-U", "true")
            assert nested.returncode != 0
            assert "No space left on device" in nested.stderr
            for stranger in (block + RANGE if block + 2 * RANGE <= HOST_ID_BLOCKS[1] else block - RANGE, HOST_UIDS[0]):
                refused = as_user(stranger, "true")
                assert refused.returncode != 0, f"host id {stranger} joined another block's namespace"
                assert "Operation not permitted" in refused.stderr
        finally:
            os.close(namespace)
    finally:
        os.close(claim)
    assert host_processes_of(block, RANGE) == [], "the helper that made it is gone"


async def test_a_taken_over_service_on_an_image_cannot_plant_code_for_its_exec_server(
    store: ImageStore, tmp_path: Path
) -> None:
    """On an image, the exec server runs the host's Python and libraries from /run/airlock/host, a directory in the
    sandbox's own /run, which its root owns (and a compose file's user, once the server chowned it): root may move
    the whole server directory aside and put its own modules and libraries where the server's paths point. The
    server loads nothing more after it started, so none of them runs, whatever the evaluator then asks of it."""
    compiler = shutil.which("gcc", path="/usr/bin:/bin")
    if compiler is None:
        pytest.skip("gcc is not installed: the planted library cannot be built")
    source = tmp_path / "planted.c"
    source.write_text(
        "#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void planted(void)\n"
        '{ close(open("/work/planted-library-ran", O_WRONLY | O_CREAT, 0644)); }\n'
    )
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(tmp_path / "planted.so"), str(source)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    library = (tmp_path / "planted.so").read_bytes()
    python = host_python()
    version = Path(python.executable).name  # python3.11: the server's standard library is /usr/lib/python3.11
    stdlib = f"/run/airlock/host/usr/lib/{version}"
    module_dirs = [
        stdlib,
        f"{stdlib}/lib-dynload",
        f"{stdlib}/encodings",
        f"/run/airlock/host/usr/lib/{version.replace('.', '')}.zip",  # first on its path, absent: a directory will do
        "/run/airlock",
    ]
    library_dirs = [f"/run/airlock/host{directory}" for directory in python.library_path]
    codecs = (path.stem for path in Path(f"/usr/lib/{version}/encodings").glob("*.py"))
    names = sorted({*sys.stdlib_module_names, *codecs, "protocol", "execd"})
    libraries = (
        "libgcc_s.so.1",
        "libnss_files.so.2",
        "libnss_dns.so.2",
        "libnss_systemd.so.2",
        "libresolv.so.2",
        "libz.so.1",
        "libffi.so.8",
        "libexpat.so.1",
        "libcrypto.so.3",
        "libssl.so.3",
        "liblzma.so.5",
    )
    plant = (
        "set -e; mv /run/airlock /run/airlock-moved-aside\n"
        f"mkdir -p {' '.join(module_dirs + library_dirs)}\n"
        f"for dir in {' '.join(module_dirs)}; do for name in $NAMES; do "
        'printf \'open("/work/planted-module-ran", "a").write(__name__)\\n\' > $dir/$name.py; done; done\n'
        f"for dir in {' '.join(library_dirs)}; do for lib in {' '.join(libraries)}; do "
        "cp /work/planted.so $dir/$lib; done; done\n"
        "echo planted"
    )
    config = services("target", image="target")
    config.image_store = str(store.root)
    async with taken_over(config) as environments:
        target = environments["target"]
        await target.write_file("/work/planted.so", library)
        result = await target.exec(["sh", "-c", plant], env={"NAMES": " ".join(names)})
        assert result.stdout.strip() == "planted", result.stderr
        # What the evaluator asks of a service: commands (failing, timed out, with input, in another directory, with
        # odd bytes and long output), files written and read, errors of both.
        assert (await target.exec(["cat"], input="asked", cwd="/tmp", env={"LANG": "C"})).stdout == "asked"
        assert (await target.exec(["no-such-program"])).returncode != 0
        with pytest.raises(TimeoutError):
            await target.exec(["sh", "-c", "sleep 30 & sleep 30"], timeout=1)
        assert len((await target.exec(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' '\\351'"])).stdout) > 0
        await target.write_file("/work/written", "é" * 100)
        assert await target.read_file("/work/written") == "é" * 100
        with pytest.raises(FileNotFoundError):
            await target.read_file("/nonexistent")
        with pytest.raises(IsADirectoryError):
            await target.read_file("/work")
        with pytest.raises(OSError, match="Read-only file system"):
            await target.write_file("/usr/planted", "x")
        _, output = await sh(target, "ls /work; cat /work/planted-*-ran 2>/dev/null; true")
        assert "ran" not in output, f"planted code ran in the exec server: {output}"
