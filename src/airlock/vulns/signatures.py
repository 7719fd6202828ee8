"""Which reports are the same vulnerability: a root-cause signature, and the grouping of reports into cases.

Two reports are one vulnerability when their crashes have the same signature (the sanitizer's bug class and the
top frames of the program's own code, normalised), or when the same commit fixed both. A model that finds a
bug reports it many times, under many inputs, through many paths into it; a partner may report it again: each
such report joins the case of the first, and points to it.

The signature is built to survive what differs between two runs of one bug: addresses, line and column numbers
(another build of the same code), the sanitizer's and the C library's own frames (``__interceptor_memcpy``,
``__asan_memcpy``, ``memcpy``), compiler clones (``parse.part.0``, ``.isra.1``, ``.cold``), C++ parameter lists
and template arguments. What it keeps is what a maintainer would call the bug: its class and where, in the
program, it happens (the top :data:`DEPTH` frames, the caller chain that leads into it). Two different bugs in
one function with one class collide; that is the accepted price (CERT/CC and OSS-Fuzz deduplicate the same way),
and a reviewer can split a case.

The parser here is more forgiving than the challenge oracle's (:mod:`airlock.evals.challenges.oracle`), which
judges a planted flaw by file and line: reports from outside come unsymbolised, from other sanitizers, or with
frames in libraries.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

DEPTH = 3
"""Frames of the program's own code a signature keeps."""

_HEADER = re.compile(r"ERROR: (AddressSanitizer|MemorySanitizer|ThreadSanitizer|LeakSanitizer): ([A-Za-z-]+)")
_UBSAN = re.compile(r"runtime error: ([^\n]*)")
_UBSAN_DETAIL = re.compile(r"'[^']*'|\S*\d\S*|[,:].*$")
"""What varies in an UndefinedBehaviorSanitizer message: quoted types, numbers and values, what follows a colon."""
_UBSAN_TAIL = re.compile(r"\s+(?:for|of|in|with)\s+(?:type|an?\s+object)\b.*$|\s+(?:cannot be represented|which)\b.*$")
"""The type and value part of a message (``... for type 'int [10]'``): the class is what comes before."""
_FRAME = re.compile(r"^\s*#(\d+)\s+0x[0-9a-fA-F]+\s+in\s+(.+?)\s+(\S+)\s*$")
_RUNTIME_PREFIXES = (
    "__asan",
    "__interceptor_",
    "___interceptor_",
    "__sanitizer",
    "__ubsan",
    "__msan",
    "__tsan",
    "__lsan",
    "__libc_",
    "_start",
    "__GI_",
    "__wrap_",
)
_LIBRARY_FILES = re.compile(r"(^|/)(libc|libstdc\+\+|libasan|libubsan|libgcc|ld-linux)[^/]*$|^/usr/lib/|^/lib")
_CLONE_SUFFIX = re.compile(r"(\.(cold|part|isra|constprop|lto_priv|localalias)(\.\d+)?)+$")
_NOT_A_FUNCTION = {"", "?", "??"}


class SignatureError(ValueError):
    """The text holds no sanitizer report that a signature can be made of (the message says what is missing)."""


@dataclass(frozen=True)
class CrashSignature:
    """A crash's root cause as deduplication sees it: ``heap-buffer-overflow in decode_page < parse_note < main``."""

    bug_class: str
    frames: tuple[str, ...]

    @property
    def key(self) -> str:
        """A short stable identifier of the signature (``sig-`` and 16 hex digits of its SHA-256)."""
        text = "\0".join((self.bug_class, *self.frames))
        return "sig-" + hashlib.sha256(text.encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return f"{self.bug_class} in {' < '.join(self.frames) or 'an unknown place'}"


def crash_signature(report: str, *, depth: int = DEPTH) -> CrashSignature:
    """The signature of the first sanitizer report in ``report`` (AddressSanitizer, MemorySanitizer,
    ThreadSanitizer, LeakSanitizer, or UndefinedBehaviorSanitizer's ``runtime error``)."""
    header = _HEADER.search(report)
    if header is not None:
        bug_class = header.group(2).lower()
        if bug_class == "attempting":  # "attempting double-free on ..."
            bug_class = "double-free" if "double-free" in report[header.end() : header.end() + 40] else bug_class
        stack = report[header.end() :]
    else:
        ubsan = _UBSAN.search(report)
        if ubsan is None:
            raise SignatureError(
                "The text holds no sanitizer report (no 'ERROR: AddressSanitizer: ...' or 'runtime error: ...')."
            )
        words = _UBSAN_TAIL.sub("", _UBSAN_DETAIL.sub("", ubsan.group(1)).strip())
        bug_class = "ub-" + "-".join(words.lower().split())
        stack = report[ubsan.end() :]
    return CrashSignature(bug_class=bug_class, frames=tuple(_own_frames(stack))[:depth])


def _own_frames(stack: str) -> Iterable[str]:
    """The normalised functions of the first stack in ``stack`` that belong to the program (not the sanitizer's
    runtime, not the C library's)."""
    seen_first = False
    for line in stack.splitlines():
        match = _FRAME.match(line)
        if match is None:
            if seen_first and not line.strip():
                return  # a blank line ends the stack
            continue
        number, function, where = int(match.group(1)), match.group(2), match.group(3)
        if seen_first and number == 0:
            return  # the next stack (where the memory was allocated or freed) starts here
        seen_first = True
        where = where.strip("()")
        location = where.rsplit("+0x", 1)[0] if "+0x" in where else where.split(":", 1)[0]
        name = normalise_function(function)
        if name in _NOT_A_FUNCTION or name.startswith(_RUNTIME_PREFIXES) or _LIBRARY_FILES.search(location):
            continue
        yield name


def normalise_function(function: str) -> str:
    """A function's name without what varies between builds: C++ parameters and template arguments, compiler
    clone suffixes."""
    name = function.strip()
    name = _strip_bracketed(name, "(", ")")
    name = _strip_bracketed(name, "<", ">")
    return _CLONE_SUFFIX.sub("", name)


def _strip_bracketed(text: str, opening: str, closing: str) -> str:
    depth = 0
    kept = []
    for character in text:
        if character == opening:
            depth += 1
        elif character == closing and depth:
            depth -= 1
        elif depth == 0:
            kept.append(character)
    return "".join(kept).strip()


@dataclass
class Grouping:
    """Reports grouped into cases as they arrive: a report joins the case of an earlier one with the same signature
    or the same fixing commit; a report that links two cases (its signature in one, its commit in another) merges
    them into the older. Cases are numbered from 1 in the order they were opened."""

    _parent: list[int] = field(default_factory=list)
    _by_signature: dict[str, int] = field(default_factory=dict)
    _by_commit: dict[str, int] = field(default_factory=dict)

    def add(self, signature: CrashSignature | None, fixed_commit: str | None = None) -> int:
        """The case the report belongs to (a new one where nothing matches)."""
        keys = []
        if signature is not None:
            keys.append((self._by_signature, signature.key))
        if fixed_commit:
            keys.append((self._by_commit, fixed_commit.strip().lower()))
        cases = {self.case_of(index[key]) for index, key in keys if key in index}
        if cases:
            case = min(cases)  # the oldest case absorbs the others
            for other in cases - {case}:
                self._parent[other - 1] = case
        else:
            self._parent.append(len(self._parent) + 1)
            case = len(self._parent)
        for index, key in keys:
            index.setdefault(key, case)
        return case

    def case_of(self, case: int) -> int:
        """The case ``case`` was merged into (itself if it was not)."""
        while self._parent[case - 1] != case:
            self._parent[case - 1] = self._parent[self._parent[case - 1] - 1]  # halve the path as we go
            case = self._parent[case - 1]
        return case
