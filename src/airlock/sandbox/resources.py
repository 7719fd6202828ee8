"""Resource groups: the cgroup that holds every process of one sandbox, with its limits.

* **cgroup v2** (what most machines have now): a group under ``/sys/fs/cgroup/airlock`` when running as
  root, or under the caller's own delegated cgroup (systemd user sessions delegate one) otherwise.
* **cgroup v1** (older hosts, this project's CI): one group per controller (memory, pids, cpu), as root.
* **Neither usable** (no root and no delegation): a :class:`NoResourceGroup`; limits then fall back to
  per-process ``setrlimit`` inside the sandbox (memory through RLIMIT_AS, which AddressSanitizer programs
  cannot live with; no limit on the number of processes of the sandbox as a whole).

Destroying a group kills whatever is left in it, so no process of a sample survives its cleanup.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import time
from pathlib import Path
from typing import Protocol

from airlock.sandbox.config import SandboxLimits
from airlock.sandbox.errors import SandboxConfigError

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000


class ResourceGroup(Protocol):
    @property
    def kind(self) -> str:
        """``cgroup v2``, ``cgroup v1`` or ``rlimit`` (no group), for messages and benchmarks."""
        ...

    @property
    def attach_files(self) -> list[Path]:
        """The ``cgroup.procs`` files a process writes its pid into to join the group."""
        ...

    @property
    def limits_memory(self) -> bool:
        """Whether the group itself limits memory (otherwise RLIMIT_AS stands in)."""
        ...

    def oom_kills(self) -> int | None:
        """How many processes the kernel has killed in the group for want of memory (None: not known)."""
        ...

    def destroy(self) -> None:
        """Kill every process still in the group and remove it."""
        ...


class NoResourceGroup:
    kind = "rlimit"
    attach_files: list[Path] = []  # noqa: RUF012 (a read-only answer)
    limits_memory = False

    def oom_kills(self) -> int | None:
        return None

    def destroy(self) -> None:
        return None


class CgroupV2Group:
    kind = "cgroup v2"
    limits_memory = True

    def __init__(self, path: Path, limits: SandboxLimits) -> None:
        self.path = path
        _sweep_stale(path.parent)
        path.mkdir()
        try:
            _limit(path / "memory.max", str(limits.memory_mb << 20))
            _write(path / "memory.swap.max", "0", optional=True)
            _limit(path / "pids.max", str(limits.pids))
            _write(path / "cpu.max", f"{int(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}", optional=True)
        except BaseException:
            _remove(path)
            raise

    @property
    def attach_files(self) -> list[Path]:
        return [self.path / "cgroup.procs"]

    def oom_kills(self) -> int | None:
        return _counter(self.path / "memory.events", "oom_kill")

    def destroy(self) -> None:
        if (self.path / "cgroup.kill").exists():
            _write(self.path / "cgroup.kill", "1", optional=True)
        _kill_all(self.path / "cgroup.procs")
        _remove(self.path)


class CgroupV1Group:
    kind = "cgroup v1"
    limits_memory = True

    def __init__(self, name: str, limits: SandboxLimits) -> None:
        self.paths = {
            controller: CGROUP_ROOT / controller / "airlock" / name for controller in ("memory", "pids", "cpu")
        }
        created: list[Path] = []
        try:
            for path in self.paths.values():
                _sweep_stale(path.parent)
                path.mkdir(parents=True)
                created.append(path)
            memory = self.paths["memory"]
            _limit(memory / "memory.limit_in_bytes", str(limits.memory_mb << 20))
            _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_mb << 20), optional=True)
            _limit(self.paths["pids"] / "pids.max", str(limits.pids))
            _write(self.paths["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US), optional=True)
            _write(self.paths["cpu"] / "cpu.cfs_quota_us", str(int(limits.cpus * CPU_PERIOD_US)), optional=True)
        except BaseException:
            for path in created:
                _remove(path)
            raise

    @property
    def attach_files(self) -> list[Path]:
        return [path / "cgroup.procs" for path in self.paths.values()]

    def oom_kills(self) -> int | None:
        return _counter(self.paths["memory"] / "memory.oom_control", "oom_kill")

    def destroy(self) -> None:
        _kill_all(self.paths["pids"] / "cgroup.procs")
        for path in self.paths.values():
            _kill_all(path / "cgroup.procs")
            _remove(path)


def create_resource_group(name: str, limits: SandboxLimits) -> ResourceGroup:
    """A fresh group named ``name`` with ``limits``, the best this machine offers. A machine without usable
    cgroups gets per-process limits instead (said once, in the log); a limit the cgroup refuses is an error, never a
    quiet fall back to no group at all."""
    try:
        if (CGROUP_ROOT / "cgroup.controllers").exists():
            parent = _v2_parent()
            if parent is not None:
                return CgroupV2Group(parent / name, limits)
        elif os.geteuid() == 0 and (CGROUP_ROOT / "memory").is_dir() and (CGROUP_ROOT / "pids").is_dir():
            return CgroupV1Group(name, limits)
    except LimitRefusedError as error:
        raise SandboxConfigError(
            f"The sandbox's cgroup refused the limit {error.value} in {error.filename}: {error.strerror}; "
            "give a limit this machine accepts."
        ) from error
    except OSError as error:
        _say_no_cgroups(f"{error.strerror or error} ({error.filename or CGROUP_ROOT})")
        return NoResourceGroup()
    _say_no_cgroups("neither root nor a delegated cgroup v2 subtree")
    return NoResourceGroup()


@functools.cache
def _say_no_cgroups(why: str) -> None:
    logger.warning(
        "Sandboxes here get no cgroup (%s): memory is limited per process and the number of processes not at all.",
        why,
    )


class LimitRefusedError(OSError):
    """A cgroup would not take a limit (too large for this machine, say)."""

    def __init__(self, error: OSError, value: str) -> None:
        super().__init__(error.errno, error.strerror, error.filename)
        self.value = value


def _limit(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as error:
        raise LimitRefusedError(error, value) from error


def _v2_parent() -> Path | None:
    """A cgroup v2 directory where Airlock may create groups with the memory, pids and cpu controllers."""
    if os.geteuid() == 0:
        parent = CGROUP_ROOT / "airlock"
        parent.mkdir(exist_ok=True)
        _enable_controllers(CGROUP_ROOT)
        _enable_controllers(parent)
        return parent
    # A delegated subtree: our own cgroup, if we may write to it (systemd's Delegate=yes).
    line = Path("/proc/self/cgroup").read_text().strip().splitlines()[-1]
    own = CGROUP_ROOT / line.split("::", 1)[-1].lstrip("/")
    parent = own.parent / "airlock"
    if not os.access(own.parent, os.W_OK):
        return None
    parent.mkdir(exist_ok=True)
    _enable_controllers(parent)
    return parent


def _enable_controllers(path: Path) -> None:
    available = (path / "cgroup.controllers").read_text().split()
    wanted = [f"+{name}" for name in ("memory", "pids", "cpu") if name in available]
    _write(path / "cgroup.subtree_control", " ".join(wanted), optional=True)


STALE_AFTER = 300.0
"""Seconds after which an empty group is taken for one left behind by a killed evaluation."""


def _sweep_stale(parent: Path, older_than: float = STALE_AFTER, name_contains: str = "") -> list[Path]:
    """Remove empty groups left behind by evaluations that were killed before their cleanup ran.

    Young groups are left alone: another evaluation may have just created one and not yet joined it.
    """
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    now = time.time()
    for group in parent.iterdir():
        with contextlib.suppress(OSError):
            if (
                group.is_dir()
                and name_contains in group.name
                and now - group.stat().st_mtime > older_than
                and not (group / "cgroup.procs").read_text().strip()
            ):
                group.rmdir()
                removed.append(group)
    return removed


def remove_leftover_groups(name_contains: str = "", older_than: float = 10.0) -> list[Path]:
    """Remove the empty groups of sandboxes that are gone (their names containing ``name_contains``), for
    ``inspect sandbox cleanup bwrap``. Groups younger than ``older_than`` seconds are spared (see above)."""
    parents: list[Path] = []
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        with contextlib.suppress(OSError):
            parent = _v2_parent()
            if parent is not None:
                parents.append(parent)
    else:
        parents += [CGROUP_ROOT / controller / "airlock" for controller in ("memory", "pids", "cpu")]
    return [path for parent in parents for path in _sweep_stale(parent, older_than, name_contains)]


def _counter(path: Path, name: str) -> int | None:
    """The value of ``name`` in a cgroup file of ``name value`` lines."""
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name:
                return int(value)
    except (OSError, ValueError):
        return None
    return None


def _write(path: Path, value: str, *, optional: bool = False) -> None:
    try:
        path.write_text(value)
    except OSError:
        if not optional:
            raise


def _kill_all(procs: Path) -> None:
    """SIGKILL every process listed in ``procs`` until none is left (processes may fork while dying)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            pids = [int(pid) for pid in procs.read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.0005)


def _remove(path: Path) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            # Busy until the last killed process has been reaped.
            if time.monotonic() > deadline:
                return
            time.sleep(0.0005)
