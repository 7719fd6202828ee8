"""A seccomp filter for every sandbox: the system calls a sandbox has no business making fail with ENOSYS.

* ``keyctl``, ``add_key``, ``request_key``: the kernel's keyrings are not namespaced by anything a sandbox has
  its own of; a key is a way to read what the host keeps there or to pass data to another sandbox. Programs
  treat ENOSYS as "no keyring support" and carry on (container runtimes block the same calls by default).
* ``bpf``, ``perf_event_open``, ``userfaultfd``: kernel attack surface and side channels, needed by nothing a
  challenge or an agent does.
* ``io_uring_setup``, ``io_uring_enter``, ``io_uring_register``: a second way into most of the kernel, with a
  record of vulnerabilities; programs fall back to ordinary system calls.

* ``clone`` with ``CLONE_PARENT`` fails with EPERM, and ``clone3`` with ENOSYS (its flags are behind a pointer a
  filter cannot read; the C library falls back to ``clone``): a process made with ``CLONE_PARENT`` would be the exec
  server's child rather than its creator's, outside the tree that a timed-out command is killed with.

``ptrace`` stays allowed: debuggers are part of an exploitation toolbox, and the exec server is protected
from it by being non-dumpable.

The filter is classic BPF over ``struct seccomp_data`` (``nr`` at offset 0, ``arch`` at offset 4), given to bwrap
with ``--seccomp FD``. Every architecture a process on this machine can call the kernel with is covered (on
x86-64 also the i386 entry, and x32 is refused whole); a machine of another architecture gets no filter, and
:func:`filter_program` says so by returning None.
"""

from __future__ import annotations

import errno
import platform
import struct

BPF_LD_W_ABS = 0x20
BPF_JEQ_K = 0x15
BPF_JGE_K = 0x35
BPF_JSET_K = 0x45
BPF_RET_K = 0x06
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARG0_LOW = 16
"""The low 32 bits of the first argument (``clone``'s flags on every architecture here, little-endian)."""
X32_SYSCALL_BIT = 0x40000000
CLONE_PARENT = 0x00008000
CLONE3 = 435
"""``clone3``, numbered alike on every architecture (the unified table)."""

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
AUDIT_ARCH_ARM = 0x40000028

BLOCKED = ("keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd")
IO_URING = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}
"""io_uring came after the kernel unified new system call numbers: the same on every architecture."""

CLONE: dict[int, int] = {AUDIT_ARCH_X86_64: 56, AUDIT_ARCH_I386: 120, AUDIT_ARCH_AARCH64: 220, AUDIT_ARCH_ARM: 120}

SYSCALL_NUMBERS: dict[int, dict[str, int]] = {
    AUDIT_ARCH_X86_64: {
        "keyctl": 250,
        "add_key": 248,
        "request_key": 249,
        "bpf": 321,
        "perf_event_open": 298,
        "userfaultfd": 323,
    },
    AUDIT_ARCH_I386: {
        "keyctl": 288,
        "add_key": 286,
        "request_key": 287,
        "bpf": 357,
        "perf_event_open": 336,
        "userfaultfd": 374,
    },
    AUDIT_ARCH_AARCH64: {
        "keyctl": 219,
        "add_key": 217,
        "request_key": 218,
        "bpf": 280,
        "perf_event_open": 241,
        "userfaultfd": 282,
    },
    AUDIT_ARCH_ARM: {
        "keyctl": 311,
        "add_key": 309,
        "request_key": 310,
        "bpf": 386,
        "perf_event_open": 364,
        "userfaultfd": 388,
    },
}
ARCHITECTURES_OF_MACHINE = {
    "x86_64": (AUDIT_ARCH_X86_64, AUDIT_ARCH_I386),
    "aarch64": (AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM),
}


def _instruction(code: int, k: int, true: int = 0, false: int = 0) -> bytes:
    """One ``struct sock_filter``: u16 code, u8 jump-if-true, u8 jump-if-false, u32 constant."""
    return struct.pack("=HBBI", code, true, false, k)


def _architecture_block(arch: int) -> list[bytes]:
    """For a call of ``arch`` (already known): ENOSYS for a blocked number, EPERM for ``clone(CLONE_PARENT)``,
    otherwise allow."""
    numbers = sorted({*(SYSCALL_NUMBERS[arch][name] for name in BLOCKED), *IO_URING.values(), CLONE3})
    block = [_instruction(BPF_LD_W_ABS, OFFSET_NR)]
    # Laid out as: [x32 check], one comparison per blocked number, the clone check (3), allow, ENOSYS, EPERM.
    clone_at = 1 + (1 if arch == AUDIT_ARCH_X86_64 else 0) + len(numbers)
    allow_at = clone_at + 3
    enosys_at = allow_at + 1
    eperm_at = enosys_at + 1
    if arch == AUDIT_ARCH_X86_64:
        # x32 calls are x86-64 calls with a high bit set: nothing here uses that ABI, so refuse it whole.
        block.append(_instruction(BPF_JGE_K, X32_SYSCALL_BIT, true=enosys_at - len(block) - 1))
    for number in numbers:
        block.append(_instruction(BPF_JEQ_K, number, true=enosys_at - len(block) - 1))
    block.append(_instruction(BPF_JEQ_K, CLONE[arch], false=allow_at - len(block) - 1))
    block.append(_instruction(BPF_LD_W_ABS, OFFSET_ARG0_LOW))
    block.append(_instruction(BPF_JSET_K, CLONE_PARENT, true=eperm_at - len(block) - 1))
    block.append(_instruction(BPF_RET_K, SECCOMP_RET_ALLOW))
    block.append(_instruction(BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS))
    block.append(_instruction(BPF_RET_K, SECCOMP_RET_ERRNO | errno.EPERM))
    return block


def filter_program(machine: str | None = None) -> bytes | None:
    """The filter for ``machine`` (default: this one), as bwrap reads it; None where there is none."""
    architectures = ARCHITECTURES_OF_MACHINE.get(machine or platform.machine())
    if architectures is None:
        return None
    blocks = [_architecture_block(arch) for arch in architectures]
    # Dispatch on the architecture: one comparison per known architecture, then ENOSYS for any other (a
    # process cannot call the kernel in an architecture its machine does not run).
    dispatch_length = 1 + len(architectures) + 1
    program = [_instruction(BPF_LD_W_ABS, OFFSET_ARCH)]
    offset = dispatch_length
    for arch, block in zip(architectures, blocks, strict=True):
        program.append(_instruction(BPF_JEQ_K, arch, true=offset - len(program) - 1))
        offset += len(block)
    program.append(_instruction(BPF_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS))
    for block in blocks:
        program += block
    return b"".join(program)
