"""Patches: reading a unified diff, refusing what a fix may not do, and applying it to the program's sources.

A patch is applied as ``patch -p1 --fuzz=0`` would apply it in the directory of the sources: the first
directory of each path (``a/``, ``b/``) is dropped, and each hunk's context and removed lines must match the
file exactly, at the line the hunk names or moved up or down (an offset, as ``patch`` allows). Fuzz is not
allowed: it applies a hunk at a place its context does not describe. Applying happens here, in Python, rather than
by running ``patch``: the program is the model's to change, and only within these rules, so the rules are checked
on the same reading of the diff that applies it (``patch`` also reads context diffs, ed scripts and git's renames,
each a way around a check on unified hunks).

Refused before anything is applied, each with its reason: a patch that is not UTF-8 text, names no file or a file
outside the program's sources (``../x``, ``/etc/x``, a ``Makefile``), creates, deletes, renames or copies a file,
changes a mode, carries a binary patch, or whose added lines touch the sanitizer (see :data:`_SANITIZER`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GIT_HEADERS = {
    "rename from": "renames a file",
    "rename to": "renames a file",
    "copy from": "copies a file",
    "copy to": "copies a file",
    "new file mode": "creates a file",
    "deleted file mode": "deletes a file",
    "old mode": "changes a file's mode",
    "new mode": "changes a file's mode",
    "GIT binary patch": "holds a binary patch",
    "Binary files": "holds a binary patch",
}
_SANITIZER = re.compile(
    r"sanitize|address_safety|__(?:a|hwa|l|m|t|ub)san|\b(?:a|hwa|l|m|t|ub)san_|##|\b(?:__)?asm(?:__)?\b",
    re.IGNORECASE,
)
"""What an added line may not hold: the sanitizer's attributes (``no_sanitize``, ``no_sanitize_address``,
``disable_sanitizer_instrumentation``, GCC's ``no_address_safety_analysis``, ``optimize("no-sanitize=...")``),
its interface (``__asan_default_options``, ``__sanitizer_set_death_callback``,
a program's own ``__asan_report_store1`` that would replace the runtime's), ``ASAN_OPTIONS``, and the two ways to spell
those names without writing them: token pasting (``##``) and inline assembly. A fix that needs none of them is
an ordinary C fix; the checks are not exhaustive (a patch is code, and code can hide anything), which is why the
run also refuses a run that ends with the sanitizer's exit status whatever it printed."""


class PatchError(Exception):
    """A patch that cannot be applied, or is refused, with the reason (``patch does not apply (hunk 2 of
    main.c)``) and where it stopped: ``applies`` for both."""

    def __init__(self, reason: str, evidence: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.evidence = evidence


@dataclass(frozen=True)
class Hunk:
    number: int
    """Its number among the hunks of its file, from 1 (as ``patch`` counts them)."""
    old_start: int
    old: list[str]
    """The lines it expects (context and removed), each with its line ending."""
    new: list[str]
    """The lines it leaves (context and added)."""
    added: list[str]
    header: str


@dataclass(frozen=True)
class FilePatch:
    name: str
    """The file's name among the sources, the ``a/`` or ``b/`` dropped."""
    hunks: list[Hunk]


def parse_patch(data: bytes, sources: Collection[str]) -> list[FilePatch]:
    """The files and hunks of a unified diff that changes only ``sources``; anything else is a :class:`PatchError`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PatchError("patch refused (it is not UTF-8 text)") from error
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()  # the text's last line break ends its last line, it does not start another
    files: list[FilePatch] = []
    at = 0
    while at < len(lines):
        line = lines[at]
        for header, what in _GIT_HEADERS.items():
            if line.startswith(header):
                raise PatchError(f"patch refused (it {what}: a fix changes the program's sources only)")
        if line.startswith("--- ") and at + 1 < len(lines) and lines[at + 1].startswith("+++ "):
            name = _source_name(line[4:], lines[at + 1][4:], sources)
            hunks, at = _hunks(lines, at + 2, name)
            files.append(FilePatch(name, hunks))
            continue
        if _HUNK.match(line):
            raise PatchError(f"patch is malformed (a hunk at line {at + 1} of the patch names no file)")
        at += 1  # text between files (a commit message, git's `diff --git` and `index` lines) is not part of it
    if not files:
        raise PatchError("patch is empty (it changes no file: a unified diff starts with --- a/FILE and +++ b/FILE)")
    return files


def _source_name(old: str, new: str, sources: Collection[str]) -> str:
    old_path, new_path = _path(old), _path(new)
    if old_path == "/dev/null":
        raise PatchError(f"patch refused (it creates {new_path}: a fix changes the program's existing sources only)")
    if new_path == "/dev/null":
        raise PatchError(f"patch refused (it deletes {old_path}: a fix changes sources, it never removes one)")
    for path in (old_path, new_path):
        if path.startswith("/"):
            raise PatchError(f"patch refused (it names the absolute path {path}: a fix changes the program's sources)")
    names = {_strip_one(old_path), _strip_one(new_path)}
    if len(names) > 1:
        raise PatchError(f"patch refused (it renames {old_path} to {new_path})")
    (name,) = names
    if name is None:
        raise PatchError(
            f"patch refused (it names {new_path} without a leading directory: write paths as patch -p1 reads them, "
            f"--- a/{new_path} and +++ b/{new_path})"
        )
    if name not in sources:
        listed = ", ".join(sorted(sources))
        raise PatchError(f"patch refused (it changes {name}, which is not one of the program's sources: {listed})")
    return name


def _path(field: str) -> str:
    """The path of a ``---``/``+++`` line, without the timestamp diff may write after a tab."""
    return field.split("\t", 1)[0].strip()


def _strip_one(path: str) -> str | None:
    """The path as ``patch -p1`` reads it: its first directory dropped (None if it has none)."""
    head, separator, rest = path.partition("/")
    return rest if separator and head and rest else None


def _hunks(lines: list[str], at: int, name: str) -> tuple[list[Hunk], int]:
    hunks: list[Hunk] = []
    while at < len(lines) and (match := _HUNK.match(lines[at])):
        number = len(hunks) + 1
        header = lines[at]
        old_count = 1 if match.group(2) is None else int(match.group(2))
        new_count = 1 if match.group(4) is None else int(match.group(4))
        old: list[str] = []
        new: list[str] = []
        added: list[str] = []
        at += 1
        while len(old) < old_count or len(new) < new_count:
            if at >= len(lines):
                raise PatchError(f"patch is malformed (hunk {number} of {name} ends before its {header} counts)")
            line = lines[at]
            kind, content = (line[:1], line[1:] + "\n") if line else (" ", "\n")  # an empty line: blank context
            if kind == " ":
                old.append(content)
                new.append(content)
            elif kind == "-":
                old.append(content)
            elif kind == "+":
                new.append(content)
                added.append(content)
            elif kind == "\\":  # "\ No newline at end of file": the line before has no line ending
                _drop_line_end(lines[at - 1][:1], old, new)
            else:
                raise PatchError(
                    f"patch is malformed (hunk {number} of {name}: line {at + 1} of the patch is not part of a hunk, "
                    f"yet the hunk's header {header} counts more lines)"
                )
            if len(old) > old_count or len(new) > new_count:
                raise PatchError(f"patch is malformed (hunk {number} of {name} holds more lines than {header} counts)")
            at += 1
        if at < len(lines) and lines[at].startswith("\\"):
            _drop_line_end(lines[at - 1][:1], old, new)
            at += 1
        hunks.append(Hunk(number, int(match.group(1)), old, new, added, header))
    if not hunks:
        raise PatchError(f"patch is malformed (the change to {name} has no hunk)")
    return hunks, at


def _drop_line_end(kind: str, old: list[str], new: list[str]) -> None:
    for side in (old,) if kind == "-" else (new,) if kind == "+" else (old, new):
        if side:
            side[-1] = side[-1].removesuffix("\n")


def apply_patch(data: bytes, sources: dict[str, str]) -> dict[str, str]:
    """``sources`` (name -> text) with the patch applied; a refused or failing patch is a :class:`PatchError`."""
    patched = dict(sources)
    for file in parse_patch(data, sources):
        for line in (line for hunk in file.hunks for line in hunk.added):
            if found := _SANITIZER.search(line):
                raise PatchError(
                    f"patch refused (an added line of {file.name} uses {found.group(0)!r}: a fix may not touch the "
                    "sanitizer)",
                    evidence=line.rstrip("\n"),
                )
        patched[file.name] = _apply_file(file, patched[file.name])
    return patched


def _apply_file(file: FilePatch, text: str) -> str:
    lines = text.splitlines(keepends=True)
    offset = 0  # how far the hunks so far were found from where they said, which the next one starts from
    free_from = 0  # hunks apply in order, and never over one another
    for hunk in file.hunks:
        stated = hunk.old_start - (1 if hunk.old else 0)  # a pure insertion names the line it follows
        place = _find(lines, hunk.old, stated + offset, free_from)
        if place is None:
            raise PatchError(
                f"patch does not apply (hunk {hunk.number} of {file.name})",
                evidence=f"{hunk.header}\n" + "".join(f" {line}" for line in hunk.old[:8]),
            )
        lines[place : place + len(hunk.old)] = hunk.new
        offset = place - stated
        free_from = place + len(hunk.new)
    return "".join(lines)


def _find(lines: list[str], wanted: list[str], start: int, free_from: int) -> int | None:
    """Where ``wanted`` stands in ``lines``: the place nearest ``start`` at or after ``free_from``."""
    last = len(lines) - len(wanted)
    for distance in range(max(last, 0) + len(lines) + 1):
        for place in (start - distance, start + distance) if distance else (start,):
            if free_from <= place <= last and lines[place : place + len(wanted)] == wanted:
                return place
        if start - distance < free_from and start + distance > last:
            break
    return None


def diff_sources(before: dict[str, str], after: dict[str, str]) -> str:
    """The unified diff (for ``patch -p1``) that turns ``before`` into ``after``, file by file in name order:
    what an agent's edits to the sources amount to."""
    out: list[str] = []
    for name in sorted(before):
        if after.get(name, before[name]) == before[name]:
            continue
        old, new = before[name].splitlines(keepends=True), after[name].splitlines(keepends=True)
        for line in difflib.unified_diff(old, new, fromfile=f"a/{name}", tofile=f"b/{name}"):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
