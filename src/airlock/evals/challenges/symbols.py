"""Symbolizing sanitizer reports ourselves, from tables made once when the target is built.

AddressSanitizer names each stack frame by starting ``llvm-symbolizer`` (or ``addr2line``) when it
reports, which costs about 100 ms a report: twenty times the run itself. So targets run with
``symbolize=0``, which prints frames as ``(module+offset)``, and the frames in the target are named here
from its function symbols (``nm``) and its DWARF line table (``objdump --dwarf=decodedline``), both read
once, in the build sandbox, when the target is built and cached with it. A verification then needs no
second process, and the tables come from the trusted build, not from anything the input can touch.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass

NM_COMMAND = ["nm", "--defined-only", "-n"]
LINES_COMMAND = ["objdump", "--dwarf=decodedline"]

_NM_LINE = re.compile(r"^([0-9a-f]+) [tTwW] (\S+)$")
_LINE_ROW = re.compile(r"^(\S+)\s+(\d+|-)\s+0x([0-9a-f]+)\b")
_RAW_FRAME = re.compile(r"^(\s*#\d+ 0x[0-9a-f]+)\s+\((\S+?)\+0x([0-9a-f]+)\)\s*$")


@dataclass(frozen=True)
class Symbols:
    """Function starts and line-table rows of one binary, each sorted by address."""

    functions: list[tuple[int, str]]
    lines: list[tuple[int, str, int | None]]
    """(address, file, line); ``None`` marks the end of a sequence: no line from there on."""

    @classmethod
    def from_tools(cls, nm_output: str, lines_output: str) -> Symbols:
        functions = sorted(
            (int(match.group(1), 16), match.group(2)) for match in map(_NM_LINE.match, nm_output.splitlines()) if match
        )
        lines: list[tuple[int, str, int | None]] = []
        for row in lines_output.splitlines():
            match = _LINE_ROW.match(row)
            if match:
                number = None if match.group(2) == "-" else int(match.group(2))
                lines.append((int(match.group(3), 16), match.group(1), number))
        lines.sort(key=lambda entry: entry[0])
        return cls(functions, lines)

    def locate(self, offset: int) -> tuple[str, str, int] | None:
        """The function, file and line of the instruction at ``offset``, or None where there is no record."""
        at = bisect.bisect_right(self.functions, (offset, "\uffff")) - 1
        row = bisect.bisect_right(self.lines, offset, key=lambda entry: entry[0]) - 1
        if at < 0 or row < 0 or self.lines[row][2] is None:
            return None
        _, file, line = self.lines[row]
        assert line is not None
        return self.functions[at][1], file, line

    def symbolize(self, report: str, module: str) -> str:
        """``report`` with each raw frame in ``module`` written as ASan would have: ``in FUNCTION FILE:LINE``."""

        def named(match: re.Match[str]) -> str:
            if match.group(2) != module:
                return match.group(0)
            found = self.locate(int(match.group(3), 16))
            if found is None:
                return match.group(0)
            function, file, line = found
            return f"{match.group(1)} in {function} {file}:{line}"

        return "\n".join(_RAW_FRAME.sub(named, line) for line in report.split("\n"))

    def to_json(self) -> str:
        return json.dumps({"functions": self.functions, "lines": self.lines})

    @classmethod
    def from_json(cls, text: str) -> Symbols:
        data = json.loads(text)
        return cls(
            [(address, name) for address, name in data["functions"]],
            [(address, file, line) for address, file, line in data["lines"]],
        )
