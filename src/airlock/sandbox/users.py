"""A user namespace that maps a whole range of ids, for a service that switches users as a container's root does.

A sandbox normally maps one user and keeps no capability: nothing inside can become anyone else. Targets of the
field's suites are written for containers, where root starts the service and the service becomes another user
(xinetd's ``user =``, socat's ``su=nobody``, supervisord's ``user=``, ``su``): with one user and no capability,
those fail and the target never answers. A service sandbox can instead get a namespace made here:

* :data:`RANGE` ids, 0 to 65,535 inside, mapped to a block of host ids of its own (drawn from a range no account
  and no one-user sandbox uses, and claimed while the sandbox lives): root inside is an unprivileged host user, and
  so is everyone else;
* the namespace's creator is that block's first host id, so the sandbox's launcher (running as it, with
  ``no_new_privs``) may join the namespace and bwrap keep the capabilities named in :data:`SERVICE_CAPABILITIES`,
  which act only on what the namespace owns (its ids; not the host's files, not the sample's network, which
  belongs to the host's namespace);
* no namespace may be made inside it (``user.max_user_namespaces`` is 0 in it, as bwrap's ``--disable-userns``
  sets it for the one-user sandbox).

Making one needs root (writing a map of more than one's own id takes ``CAP_SETUID`` over the host's ids). A helper
process creates the namespace, as the block's first id, and the caller writes its maps; an open descriptor of the
namespace then keeps it alive for bwrap's ``--userns``. The helper is a fresh Python process rather than a fork of
the caller, which runs threads.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
import sys
from pathlib import Path

RANGE = 65_536
"""Ids a switching service's namespace maps (0 to 65,535 inside, as a container's)."""
HOST_ID_BLOCKS = (1_000_000_000, 4_000_000_000)
"""The host ids that blocks are drawn from: above the one-user sandboxes' (:data:`.bwrap.HOST_UIDS`) and every
account's, below the largest id (2**32 - 2)."""
CLAIMS = Path("/run/airlock-id-blocks")
"""Where a block in use is claimed: a lock on a file named by its first id, held while its sandbox lives (the
kernel drops it with the process, so a killed evaluator frees its blocks)."""
SERVICE_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
)
"""What a container engine gives a container's root by default, less what acts on devices, raw sockets and file
capabilities (``MKNOD``, ``NET_RAW``, ``SETFCAP``, ``AUDIT_WRITE``): inside a user namespace each acts only on the
namespace's own ids."""

_HELPER = r"""
import ctypes, os, sys
block = int(sys.argv[1])
os.setgroups([])
os.setresgid(block, block, block)
os.setresuid(block, block, block)
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:  # CLONE_NEWUSER
    sys.stdout.write("unshare failed: " + os.strerror(ctypes.get_errno()) + "\n"); sys.exit(1)
sys.stdout.write("made\n"); sys.stdout.flush()
sys.stdin.readline()  # the caller has written the maps: the creator, root of the namespace, closes it to others
with open("/proc/sys/user/max_user_namespaces", "w") as limit:
    limit.write("0")
sys.stdout.write("closed\n"); sys.stdout.flush()
sys.stdin.read()
"""


class UserRangeError(OSError):
    """The namespace could not be made (the message says why)."""


def claim_block() -> tuple[int, int]:
    """A block of :data:`RANGE` host ids that no other sandbox on this host holds, drawn at random (its first id),
    and the descriptor whose lock holds it: close it when the sandbox has ended. Two samples' services never share
    ids, so nothing one target's users own is another's. Root only."""
    first, last = HOST_ID_BLOCKS
    CLAIMS.mkdir(mode=0o700, exist_ok=True)
    for _ in range(64):
        block = first + RANGE * secrets.randbelow((last - first) // RANGE)
        claim = os.open(CLAIMS / str(block), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(claim)
            continue
        return block, claim
    raise UserRangeError("No free block of user ids was found in 64 draws; stop some evaluations and try again.")


def user_range_namespace(block: int) -> int:
    """An open descriptor of a new user namespace mapping ids 0..65,535 to host ids ``block``..``block + 65,535``,
    owned by ``block``, in which no user namespace can be made. Root only; the caller closes the descriptor."""
    helper = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", _HELPER, str(block)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={},
        cwd="/",
        text=True,
    )
    assert helper.stdin is not None
    assert helper.stdout is not None
    try:
        if helper.stdout.readline().strip() != "made":
            raise UserRangeError(_said(helper) or "its helper did not start")
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{helper.pid}/{name}", "w") as mapping:
                mapping.write(f"0 {block} {RANGE}\n")
        helper.stdin.write("mapped\n")
        helper.stdin.flush()
        if helper.stdout.readline().strip() != "closed":
            raise UserRangeError(_said(helper) or "its helper could not forbid nested namespaces")
        return os.open(f"/proc/{helper.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        raise UserRangeError(f"A user namespace with a range of ids could not be made: {error}") from error
    finally:
        helper.stdin.close()
        helper.wait()
        helper.stdout.close()
        if helper.stderr is not None:
            helper.stderr.close()


def _said(helper: subprocess.Popen[str]) -> str:
    helper.kill()
    _, stderr = helper.communicate()
    return stderr.strip().splitlines()[-1] if stderr.strip() else ""
