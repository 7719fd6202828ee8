"""Generated C programs, composed from parts: names, a coding style, a library of helpers, and the assembly.

A program is drawn, part by part, from the instance's random source: a theme (its vocabulary), a coding
style (how handlers are called, what the helpers are named, how records are dispatched), the input format
that frames its records (:mod:`.cformats`), the features that handle them (:mod:`.cfeatures`), and only
the helpers those parts ask for (checksums, decoders, readers, output), each written one of a few ways.
The program is then laid out over several files: a header, ``main.c``, the format's parser, one to three
files of features, and the helpers. Two seeds share little but the C language: no line of a template runs
through every instance (``bench/diversity.py`` measures it).

Every part keeps one rule that the oracles rely on: a body handed to a feature always lies in a static buffer of
:data:`MAX_INPUT` bytes, so that reading somewhat past a body never leaves that buffer; only the planted flaws are
memory errors.
"""

from __future__ import annotations

import random
import re
import string
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airlock.evals.challenges.generators.cchecksums import Checksum
from airlock.evals.challenges.generators.cchecksums import draw as draw_checksum

MAX_INPUT = 4096
"""Bytes of input a program reads, and the size of every buffer a body can lie in."""
PLANT = "/*@PLANT:{}*/"
PLANT_PATTERN = re.compile(r" ?/\*@PLANT:([A-Za-z0-9_]+)\*/")
COMPILE = ["gcc", "-std=c11", "-Wall", "-g", "-O0", "-fsanitize=address", "-fno-omit-frame-pointer"]
"""AddressSanitizer only: UBSan's bounds checks would report the planted overflows first, under their own
names, and the oracle wants one stable report per bug."""


def c(template: str, level: int = 0, **values: object) -> list[str]:
    """C lines from an indented template whose ``$name`` placeholders are filled from ``values``, indented by
    ``level`` steps (the template's own indentation is removed: a block meant for a function's body says so)."""
    text = textwrap.dedent(template).strip("\n")
    lines = string.Template(text).substitute({key: str(value) for key, value in values.items()}).split("\n")
    return indent(lines, level) if level else lines


def indent(lines: list[str], levels: int = 1) -> list[str]:
    return [("    " * levels + line) if line else line for line in lines]


def c_bytes(data: bytes) -> str:
    return ", ".join(f"0x{byte:02x}" for byte in data)


def c_string(data: bytes) -> str:
    """A C string literal for ``data`` (printable ASCII as is, the rest escaped)."""
    out = []
    for byte in data:
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 32 <= byte < 127 and not (out and out[-1].startswith("\\x") and char in string.hexdigits):
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


# Names ----------------------------------------------------------------------------------------------------

THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # theme: (module prefixes, nouns)
    "telemetry": (("telem", "tm", "probe"), ("sensor", "sample", "channel", "reading", "gauge", "beacon", "metric")),
    "spooler": (("spool", "prn", "jobq"), ("job", "page", "tray", "queue", "font", "margin", "banner")),
    "media": (("media", "mx", "av"), ("frame", "track", "tile", "palette", "layer", "clip", "caption")),
    "router": (("rtr", "net", "fwd"), ("route", "rule", "iface", "lease", "zone", "peer", "policy")),
    "savegame": (("save", "game", "sg"), ("slot", "level", "item", "player", "score", "quest", "badge")),
    "mail": (("mail", "mbx", "msg"), ("header", "part", "folder", "address", "subject", "thread", "alias")),
    "inventory": (("inv", "stock", "wh"), ("sku", "bin", "shelf", "order", "lot", "vendor", "batch")),
    "firmware": (("fw", "boot", "img"), ("image", "block", "region", "vector", "module", "bank", "section")),
}
RESERVED = {
    word
    for line in (
        "auto break case char const continue default do double else enum extern float for goto if inline int",
        "long register return short signed sizeof static struct switch typedef union unsigned void volatile",
        "while main exit free malloc calloc realloc memcpy memcmp memset printf fprintf fputs fputc fwrite",
        "fread puts putchar assert strlen strcmp strncmp strchr getenv stdin stdout stderr abort index time",
        "read write open close remove rename link stat select signal kill wait random div log exp",
    )
    for word in line.split()
}


class Names:
    """Identifiers for one program, drawn from its theme and never used twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.theme = rng.choice(sorted(THEMES))
        prefixes, nouns = THEMES[self.theme]
        self.prefix = rng.choice(prefixes)
        self.nouns = list(nouns)
        rng.shuffle(self.nouns)
        self.used: set[str] = set(RESERVED)
        self.pattern = rng.choice(("prefix_verb_noun", "verb_noun", "noun_verb", "prefix_noun_verb"))

    def take(self, candidate: str) -> str:
        name = candidate
        suffix = 2
        while name in self.used:
            name = f"{candidate}{suffix}"
            suffix += 1
        self.used.add(name)
        return name

    def noun(self) -> str:
        return self.rng.choice(self.nouns)

    def function(self, verbs: tuple[str, ...], noun: str | None = None) -> str:
        """A function name in the program's pattern, e.g. ``telem_store_sensor``."""
        verb, noun = self.rng.choice(verbs), noun or self.noun()
        form = {
            "prefix_verb_noun": f"{self.prefix}_{verb}_{noun}",
            "verb_noun": f"{verb}_{noun}",
            "noun_verb": f"{noun}_{verb}",
            "prefix_noun_verb": f"{self.prefix}_{noun}_{verb}",
        }[self.pattern]
        return self.take(form)

    def one_of(self, *candidates: str) -> str:
        return self.take(self.rng.choice(candidates))

    def constant(self, *words: str) -> str:
        return self.take("_".join(word.upper() for word in words))


# The coding style ------------------------------------------------------------------------------------------


@dataclass
class Style:
    """How one program is written: its calling convention, its core helpers' names, how it dispatches."""

    data: str
    length: str
    convention: str
    """``plain``: ``f(data, len)``; ``context``: ``f(ctx, data, len)``; ``record``: ``f(const struct rec *)``."""
    context_type: str
    context_param: str
    record_type: str
    record_param: str
    dispatch: str
    """``switch``, ``chain`` (if-else) or ``table`` (a table of kinds and handlers)."""
    codes: str
    """How kind codes are written: ``define``, ``enum`` or ``literal``."""
    reject: str
    stage: str
    emit_digest: str
    emit_value: str
    digest: str
    alloc_fail: str
    reject_form: str = "plain"
    """How a rejection is called: ``plain`` (``reject("why")``), ``coded`` (an error number per reason first)
    or ``located`` (the rejecting function's name first)."""
    stage_form: str = "plain"
    """How a stage is reported: ``plain`` (``stage("name")``), ``numbered`` (its number first) or ``levelled``
    (a verbosity level after it)."""
    loop_step: str = "i++"
    """How counting loops step: ``i++``, ``++i`` or ``i += 1``."""
    codes_of: dict[str, int] = field(default_factory=dict)
    """The numbers given so far to rejection reasons and stages (the same text always gets the same one)."""

    @classmethod
    def draw(cls, rng: random.Random, names: Names) -> Style:
        data, length = rng.choice(
            (
                ("data", "len"),
                ("buf", "buflen"),
                ("p", "n"),
                ("raw", "rawlen"),
                ("src", "srclen"),
                ("payload", "length"),
            )
        )
        noun = names.noun()
        return cls(
            data=data,
            length=length,
            convention=rng.choice(("plain", "context", "record")),
            context_type=names.take(f"{noun}_state"),
            context_param=rng.choice(("ctx", "st", "state")),
            record_type=names.take(rng.choice(("record", "message", "unit", "entry_ref"))),
            record_param=rng.choice(("rec", "msg", "r")),
            dispatch=rng.choice(("switch", "chain", "table")),
            codes=rng.choice(("define", "enum", "literal")),
            reject=names.one_of("reject", "fail", "bail", "refuse", "die"),
            stage=names.one_of("stage", "trace_stage", "mark_stage", "progress", "checkpoint"),
            emit_digest=names.one_of("emit_digest", "log_digest", "report_hash", "print_digest", "show_hash"),
            emit_value=names.one_of("emit_value", "log_value", "report_value", "show_value", "print_value"),
            digest=rng.choice(("fnv", "djb2", "sdbm", "rotate")),
            alloc_fail=rng.choice(("reject", "exit")),
            reject_form=rng.choice(("plain", "coded", "located")),
            stage_form=rng.choice(("plain", "numbered", "levelled")),
            loop_step=rng.choice(("i++", "++i", "i += 1")),
        )

    def restyle(self, line: str) -> str:
        """``line`` as this program writes its calls of ``reject`` and ``stage`` and its counting loops.

        The parts write every call the plain way; this pass rewrites them, so that the idioms every program
        needs differ from program to program as they do between code bases, not only the names.
        """
        if self.reject_form != "plain" and f'{self.reject}("' in line:
            line = re.sub(rf'\b{self.reject}\(("(?:[^"\\]|\\.)*")\)', self._rejection, line)
        if self.stage_form != "plain" and f'{self.stage}("' in line:
            line = re.sub(rf'\b{self.stage}\(("(?:[^"\\]|\\.)*")\)', self._staging, line)
        if self.loop_step != "i++" and line.lstrip().startswith("for ("):
            step = {"++i": r"++\1)", "i += 1": r"\1 += 1)"}[self.loop_step]
            line = re.sub(r"(?<=; )(\w+)\+\+\)", step, line)
        return line

    def _code(self, text: str, base: int) -> int:
        return self.codes_of.setdefault(text, base + len(self.codes_of))

    def _rejection(self, match: re.Match[str]) -> str:
        why = match.group(1)
        where = "__func__" if self.reject_form == "located" else str(self._code(why, 10))
        return f"{self.reject}({where}, {why})"

    def _staging(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if self.stage_form == "numbered":
            return f"{self.stage}({self._code(name, 1)}, {name})"
        return f"{self.stage}({name}, {1 + len(name) % 3})"

    def reject_signature(self) -> str:
        first = {"plain": "", "coded": "int code, ", "located": "const char *where, "}[self.reject_form]
        return f"void {self.reject}({first}const char *why)"

    def stage_signature(self) -> str:
        if self.stage_form == "numbered":
            return f"void {self.stage}(int number, const char *name)"
        if self.stage_form == "levelled":
            return f"void {self.stage}(const char *name, int level)"
        return f"void {self.stage}(const char *name)"

    def handler_signature(self, name: str) -> str:
        if self.convention == "plain":
            return f"void {name}(const uint8_t *{self.data}, size_t {self.length})"
        if self.convention == "context":
            context = f"struct {self.context_type} *{self.context_param}"
            return f"void {name}({context}, const uint8_t *{self.data}, size_t {self.length})"
        return f"void {name}(const struct {self.record_type} *{self.record_param})"

    def handler_head(self, name: str) -> list[str]:
        """The opening of a record handler: its signature and, by convention, its first lines."""
        head = [self.handler_signature(name) + " {"]
        if self.convention == "context":
            head.append(f"    {self.context_param}->handled++;")
        elif self.convention == "record":
            head += [
                f"    const uint8_t *{self.data} = {self.record_param}->data;",
                f"    size_t {self.length} = {self.record_param}->len;",
            ]
        return head

    def out_of_memory(self) -> str:
        if self.alloc_fail == "reject":
            return f'{self.reject}("out of memory");'
        return "exit(3);"


# The helper library -----------------------------------------------------------------------------------------


@dataclass
class Helper:
    name: str
    prototype: str
    lines: list[str]


def packbits(data: bytes) -> bytes:
    """PackBits (as in TIFF): runs of three or more equal bytes as repeats, the rest as literal runs."""
    out = bytearray()
    i = 0
    literal = bytearray()

    def flush() -> None:
        for start in range(0, len(literal), 128):
            chunk = literal[start : start + 128]
            out.append(len(chunk) - 1)
            out.extend(chunk)
        literal.clear()

    while i < len(data):
        run = 1
        while i + run < len(data) and data[i + run] == data[i] and run < 128:
            run += 1
        if run >= 3:
            flush()
            out += bytes([257 - run, data[i]])
            i += run
        else:
            literal.append(data[i])
            i += 1
    flush()
    return bytes(out)


def xor_stream(data: bytes, key: int, step: int) -> bytes:
    return bytes(byte ^ ((key + step * i) & 0xFF) for i, byte in enumerate(data))


class Library:
    """The helpers a program's parts ask for, each added (and written one of a few ways) on first use."""

    def __init__(self, rng: random.Random, names: Names, style: Style) -> None:
        self.rng = rng
        self.names = names
        self.style = style
        self.helpers: dict[str, Helper] = {}
        self.order: list[str] = []
        self.checksum: Checksum | None = None
        """The program's checksum, once a part asked for it (``need("checksum")``)."""

    def need(self, key: str) -> str:
        """The name of the helper ``key`` (``rd16le``, ``crc32``, ``hex``...), adding it on first use."""
        if key not in self.helpers:
            self.helpers[key] = self._make(key)
            self.order.append(key)
        return self.helpers[key].name

    def _make(self, key: str) -> Helper:
        rng, names = self.rng, self.names
        if key.startswith("rd"):
            bits, endian = int(key[2:4]), key[4:]
            # Version 3: most readers' names no longer say their width and byte order (a solver that read them
            # off the name learnt nothing about the format); which neutral name means which is drawn per program.
            if rng.random() < 0.2:
                name = names.one_of(f"rd{bits}{endian}", f"read_u{bits}{endian}", f"load{bits}_{endian}")
            else:
                name = names.one_of(
                    *(("half_at", "short_at", "fetch_small", "take2", "peek_pair") if bits == 16 else ()),
                    *(("word_at", "long_at", "fetch_wide", "take4", "peek_quad") if bits == 32 else ()),
                    f"{names.prefix}_field{rng.randrange(1, 9)}",
                    f"scalar_{rng.choice('abcdxyz')}",
                )
            width = bits // 8
            order = range(width) if endian == "le" else range(width - 1, -1, -1)
            form = rng.random()
            if form < 0.2:
                # The host's byte order is little-endian on every machine these run on; big-endian fields swap.
                kind = "uint16_t" if bits == 16 else "uint32_t"
                swap = f"__builtin_bswap{bits}(v)" if endian == "be" else "v"
                lines = [
                    f"uint32_t {name}(const uint8_t *p) {{",
                    f"    {kind} v;",
                    "    memcpy(&v, p, sizeof v);",
                    f"    return {swap};",
                    "}",
                ]
            elif form < 0.6:
                terms = " | ".join(f"((uint32_t)p[{i}] << {8 * k})" for k, i in enumerate(order))
                lines = [f"uint32_t {name}(const uint8_t *p) {{", f"    return {terms};", "}"]
            else:
                walk = range(width) if endian == "be" else range(width - 1, -1, -1)
                first, *rest = list(walk)
                lines = [f"uint32_t {name}(const uint8_t *p) {{", f"    uint32_t v = p[{first}];"]
                lines += [f"    v = (v << 8) | p[{i}];" for i in rest]
                lines += ["    return v;", "}"]
            return Helper(name, f"uint32_t {name}(const uint8_t *p)", lines)
        if key == "checksum":
            self.checksum = draw_checksum(rng)
            family = self.checksum.family
            name = names.one_of(
                "checksum", "frame_check", "integrity_of", f"{names.prefix}_sum", f"{family}_of", "seal_of", "digest32"
            )
            return Helper(name, f"uint32_t {name}(const uint8_t *p, size_t n)", self.checksum.code(name))
        if key == "hex":
            name = names.one_of("hex_decode", "unhex", "decode_hex", "from_hex")
            nibble = names.one_of("hex_nibble", "nibble_of", "hexval")
            lines = c(
                """
                static int $nibble(char c) {
                    if (c >= '0' && c <= '9') return c - '0';
                    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                    return -1;
                }

                /* Hex digits to bytes; (size_t)-1 when the text is not hex or does not fit. */
                size_t $name(const char *text, size_t n, uint8_t *out, size_t cap) {
                    if (n % 2 != 0 || n / 2 > cap) return (size_t)-1;
                    for (size_t i = 0; i < n / 2; i++) {
                        int hi = $nibble(text[2 * i]), lo = $nibble(text[2 * i + 1]);
                        if (hi < 0 || lo < 0) return (size_t)-1;
                        out[i] = (uint8_t)(hi * 16 + lo);
                    }
                    return n / 2;
                }""",
                name=name,
                nibble=nibble,
            )
            return Helper(name, f"size_t {name}(const char *text, size_t n, uint8_t *out, size_t cap)", lines)
        if key == "base64":
            name = names.one_of("b64_decode", "base64_decode", "unbase64", "decode_b64")
            sextet = names.one_of("b64_value", "sextet_of", "b64_index")
            lines = c(
                """
                static int $sextet(char c) {
                    if (c >= 'A' && c <= 'Z') return c - 'A';
                    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
                    if (c >= '0' && c <= '9') return c - '0' + 52;
                    if (c == '+') return 62;
                    if (c == '/') return 63;
                    return -1;
                }

                /* Base64 (with padding) to bytes; (size_t)-1 when malformed or too long. */
                size_t $name(const char *text, size_t n, uint8_t *out, size_t cap) {
                    if (n % 4 != 0) return (size_t)-1;
                    size_t o = 0;
                    for (size_t i = 0; i < n; i += 4) {
                        int v[4];
                        int pad = 0;
                        for (int k = 0; k < 4; k++) {
                            if (text[i + k] == '=' && i + 4 == n && k >= 2) { v[k] = 0; pad++; continue; }
                            if (pad) return (size_t)-1;
                            v[k] = $sextet(text[i + k]);
                            if (v[k] < 0) return (size_t)-1;
                        }
                        uint32_t word = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12
                                      | (uint32_t)v[2] << 6 | (uint32_t)v[3];
                        for (int k = 0; k < 3 - pad; k++) {
                            if (o >= cap) return (size_t)-1;
                            out[o++] = (uint8_t)(word >> (16 - 8 * k));
                        }
                    }
                    return o;
                }""",
                name=name,
                sextet=sextet,
            )
            return Helper(name, f"size_t {name}(const char *text, size_t n, uint8_t *out, size_t cap)", lines)
        if key == "packbits":
            name = names.one_of("unpack_bits", "packbits_expand", "rle_expand", "decompress_runs")
            lines = c(
                """
                /* PackBits: a header byte h below 128 copies h + 1 literal bytes, above 128 repeats the next byte
                   257 - h times; (size_t)-1 when the stream is truncated or expands past cap. */
                size_t $name(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
                    size_t i = 0, o = 0;
                    while (i < n) {
                        uint8_t h = in[i++];
                        if (h < 128) {
                            size_t run = (size_t)h + 1;
                            if (run > n - i || run > cap - o) return (size_t)-1;
                            memcpy(out + o, in + i, run);
                            i += run;
                            o += run;
                        } else if (h > 128) {
                            size_t run = 257 - (size_t)h;
                            if (i >= n || run > cap - o) return (size_t)-1;
                            memset(out + o, in[i++], run);
                            o += run;
                        }
                    }
                    return o;
                }""",
                name=name,
            )
            return Helper(name, f"size_t {name}(const uint8_t *in, size_t n, uint8_t *out, size_t cap)", lines)
        if key == "decimal":
            name = names.one_of("parse_decimal", "to_number", "read_number", "atou_checked")
            lines = c(
                """
                /* A decimal number of at most 9 digits; 0 when the text is not one. */
                int $name(const char *text, size_t n, unsigned long *value) {
                    if (n == 0 || n > 9) return 0;
                    unsigned long v = 0;
                    for (size_t i = 0; i < n; i++) {
                        if (text[i] < '0' || text[i] > '9') return 0;
                        v = v * 10 + (unsigned long)(text[i] - '0');
                    }
                    *value = v;
                    return 1;
                }""",
                name=name,
            )
            return Helper(name, f"int {name}(const char *text, size_t n, unsigned long *value)", lines)
        if key == "escape_byte":
            name = names.one_of("escape_byte", "quote_byte", "render_byte")
            lines = c(
                """
                /* One byte as it is printed: itself, or \\xNN; returns the characters written (1 or 4). */
                size_t $name(uint8_t c, char piece[4]) {
                    static const char digits[] = "0123456789abcdef";
                    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\\\') {
                        piece[0] = (char)c;
                        return 1;
                    }
                    piece[0] = '\\\\';
                    piece[1] = 'x';
                    piece[2] = digits[c >> 4];
                    piece[3] = digits[c & 15];
                    return 4;
                }""",
                name=name,
            )
            return Helper(name, f"size_t {name}(uint8_t c, char piece[4])", lines)
        if key in DEAD_ENDS:
            return DEAD_ENDS[key](names)
        raise KeyError(key)

    def definitions(self) -> list[str]:
        lines: list[str] = []
        for key in self.order:
            lines += [*self.helpers[key].lines, ""]
        return lines

    def prototypes(self) -> list[str]:
        return [self.helpers[key].prototype + ";" for key in self.order]


def _dead_clamp(names: Names) -> Helper:
    name = names.one_of("clamp_u32", "bounded", "clip_value")
    lines = c(
        """
        uint32_t $name(uint32_t v, uint32_t lo, uint32_t hi) {
            if (v < lo) return lo;
            return v > hi ? hi : v;
        }""",
        name=name,
    )
    return Helper(name, f"uint32_t {name}(uint32_t v, uint32_t lo, uint32_t hi)", lines)


def _dead_popcount(names: Names) -> Helper:
    name = names.one_of("popcount8", "bits_set", "count_ones")
    lines = c(
        """
        unsigned $name(uint8_t v) {
            unsigned total = 0;
            while (v) {
                v &= (uint8_t)(v - 1);
                total++;
            }
            return total;
        }""",
        name=name,
    )
    return Helper(name, f"unsigned {name}(uint8_t v)", lines)


def _dead_lower(names: Names) -> Helper:
    name = names.one_of("ascii_lower", "fold_case", "to_lower_ascii")
    lines = c(
        """
        void $name(char *text, size_t n) {
            for (size_t i = 0; i < n; i++)
                if (text[i] >= 'A' && text[i] <= 'Z') text[i] = (char)(text[i] - 'A' + 'a');
        }""",
        name=name,
    )
    return Helper(name, f"void {name}(char *text, size_t n)", lines)


def _dead_gcd(names: Names) -> Helper:
    name = names.one_of("gcd_u32", "common_divisor", "gcd")
    lines = c(
        """
        uint32_t $name(uint32_t a, uint32_t b) {
            while (b != 0) {
                uint32_t t = a % b;
                a = b;
                b = t;
            }
            return a;
        }""",
        name=name,
    )
    return Helper(name, f"uint32_t {name}(uint32_t a, uint32_t b)", lines)


def _dead_reverse(names: Names) -> Helper:
    name = names.one_of("bit_reverse8", "mirror_bits", "reverse_bits")
    lines = c(
        """
        uint8_t $name(uint8_t v) {
            uint8_t r = 0;
            for (int i = 0; i < 8; i++) {
                r = (uint8_t)((r << 1) | (v & 1u));
                v >>= 1;
            }
            return r;
        }""",
        name=name,
    )
    return Helper(name, f"uint8_t {name}(uint8_t v)", lines)


def _dead_align(names: Names) -> Helper:
    name = names.one_of("align_up", "round_up", "pad_to")
    lines = c(
        """
        size_t $name(size_t n, size_t unit) {
            if (unit == 0) return n;
            return (n + unit - 1) / unit * unit;
        }""",
        name=name,
    )
    return Helper(name, f"size_t {name}(size_t n, size_t unit)", lines)


DEAD_ENDS: dict[str, Callable[[Names], Helper]] = {
    "dead_clamp": _dead_clamp,
    "dead_popcount": _dead_popcount,
    "dead_lower": _dead_lower,
    "dead_gcd": _dead_gcd,
    "dead_reverse": _dead_reverse,
    "dead_align": _dead_align,
}
"""Helpers a program defines and never calls: the dead ends real code carries."""


def core_helpers(style: Style, rng: random.Random) -> list[str]:
    """``reject`` (exit 2 with the reason), ``stage`` (report a parser stage) and the two output helpers, each
    written one of a few ways."""
    lines = [f"{style.reject_signature()} {{"]
    if style.reject_form == "coded":
        lines.append('    fprintf(stderr, "error %d\\n", code);')
    elif style.reject_form == "located":
        lines.append('    fprintf(stderr, "in %s\\n", where);')
    lines += rng.choice(
        (
            ['    fprintf(stderr, "rejected: %s\\n", why);'],
            ['    fputs("rejected: ", stderr);', "    fputs(why, stderr);", "    fputc('\\n', stderr);"],
            ["    fflush(stdout);", '    fprintf(stderr, "%s: %s\\n", "rejected", why);'],
        )
    )
    lines += ["    exit(2);", "}", "", f"{style.stage_signature()} {{"]
    if style.stage_form == "numbered":
        lines.append('    fprintf(stderr, "stage %d\\n", number);')
    elif style.stage_form == "levelled":
        lines.append("    if (level > 2) fflush(stdout);")
    lines += rng.choice(
        (
            ['    fprintf(stderr, "AIRLOCK-STAGE %s\\n", name);'],
            ['    fputs("AIRLOCK-STAGE ", stderr);', "    fputs(name, stderr);", '    fputs("\\n", stderr);'],
            ['    static const char prefix[] = "AIRLOCK-STAGE";', '    fprintf(stderr, "%s %s\\n", prefix, name);'],
        )
    )
    lines += ["}", ""]
    digest = {
        "fnv": ["    uint32_t h = 2166136261u;", "    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;"],
        "djb2": ["    uint32_t h = 5381u;", "    for (size_t i = 0; i < n; i++) h = h * 33u + p[i];"],
        "sdbm": ["    uint32_t h = 0;", "    for (size_t i = 0; i < n; i++) h = p[i] + (h << 6) + (h << 16) - h;"],
        "rotate": [
            "    uint32_t h = 0x9e3779b9u;",
            "    for (size_t i = 0; i < n; i++) h = ((h << 5) | (h >> 27)) ^ p[i];",
        ],
    }[style.digest]
    lines += [f"void {style.emit_digest}(const char *what, const uint8_t *p, size_t n) {{", *digest]
    lines += rng.choice(
        (
            ['    printf("%s %zu %08x\\n", what, n, (unsigned)h);'],
            ['    fprintf(stdout, "%s: %lu bytes, digest %08lx\\n", what, (unsigned long)n, (unsigned long)h);'],
            ["    fputs(what, stdout);", '    printf(" [%zu] %08x\\n", n, (unsigned)h);'],
        )
    )
    lines += ["}", "", f"void {style.emit_value}(const char *what, unsigned long value) {{"]
    lines += rng.choice(
        (
            ['    printf("%s %lu\\n", what, value);'],
            ['    fprintf(stdout, "%s=%lu\\n", what, value);'],
            ['    printf("%-12s %10lu\\n", what, value);'],
            ["    fputs(what, stdout);", '    printf(": %lu\\n", value);'],
        )
    )
    lines += ["}", ""]
    return lines


def core_prototypes(style: Style) -> list[str]:
    return [
        f"{style.reject_signature()};",
        f"{style.stage_signature()};",
        f"void {style.emit_digest}(const char *what, const uint8_t *p, size_t n);",
        f"void {style.emit_value}(const char *what, unsigned long value);",
    ]


# Assembly ------------------------------------------------------------------------------------------------


@dataclass
class SourceFile:
    name: str
    lines: list[str]


@dataclass
class Assembled:
    files: dict[str, str]
    """File name -> text, in build order (sources first, the header last)."""
    plants: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Flaw tag -> (file, line) of the marked line."""


def assemble(files: list[SourceFile], header: SourceFile, banner: Sequence[str] = ()) -> Assembled:
    """The files' text, each opening with ``banner`` (the canary), every plant marker removed and its place
    recorded."""
    assembled = Assembled({})
    for source in [*files, header]:
        text = "\n".join([*banner, *source.lines]).rstrip("\n") + "\n"
        lines = text.split("\n")
        for number, line in enumerate(lines, start=1):
            for tag in PLANT_PATTERN.findall(line):
                if tag in assembled.plants:
                    raise AssertionError(f"the flaw {tag} is marked twice")
                assembled.plants[tag] = (source.name, number)
            lines[number - 1] = PLANT_PATTERN.sub("", line)
        assembled.files[source.name] = "\n".join(lines)
    return assembled


def plant(tag: str) -> str:
    """The marker for a flaw's line: removed when the program is assembled, its place recorded."""
    return " " + PLANT.format(tag)
