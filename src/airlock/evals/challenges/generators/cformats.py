"""Input formats of generated C programs: how records are framed, and what guards them at each tier.

Four formats, each a parser in C and its encoder in Python, written for one instance from the seed:

* ``tlv``: binary type-length-value records after a magic value;
* ``chunks``: a signature, then chunks of length, four-letter type, data (and a CRC), as in PNG;
* ``lines``: a text protocol: a banner line, then one command a line, its data in hex (or base64);
* ``config``: an INI-style configuration: sections, ``key = value`` entries, values in hex (or base64).

Every format climbs the same ladder of stages (the names are what the program reports):

=====  ================================================================================================
tier   what the input must get right before a record reaches its handler
=====  ================================================================================================
1      ``framing``: the magic value, signature, banner or first line
2      + ``header``: a version, and lengths or counts that must match the input exactly
3      + ``checksum``: a checksum of the format's own kind and place (CRC-32, Adler-32, Fletcher-16, ...)
4      + ``decode``: the records travel encoded (PackBits, an XOR stream, base64), and ``session``: a token
       opens the exchange, records are accepted only in order, and the exchange must be closed
=====  ================================================================================================

An encoder can also get one thing wrong on purpose (``fault``), so that a negative control fails at exactly
the stage it targets: ``length``, ``checksum``, ``order``, ``token`` or ``encoding``.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from dataclasses import dataclass

from airlock.evals.challenges.generators.cchecksums import Checksum
from airlock.evals.challenges.generators.cfeatures import Parts
from airlock.evals.challenges.generators.cprogram import MAX_INPUT, c, c_bytes, packbits, xor_stream

STAGES = {
    1: ["framing"],
    2: ["framing", "header"],
    3: ["framing", "header", "checksum"],
    4: ["framing", "header", "checksum", "decode", "session"],
}
FAULTS = {"length": "wrong_length", "checksum": "bad_checksum", "order": "records_out_of_order", "token": "bad_token"}
Record = tuple[str, bytes]
"""(handler function, body)."""


@dataclass
class Entry:
    """What main calls, and in which file."""

    function: str
    file: str
    lines: list[str]


def pack_int(value: int, width: int, endian: str) -> bytes:
    return value.to_bytes(width, "little" if endian == "le" else "big")


class Format(ABC):
    """One input format for one program (each format a subclass)."""

    name = ""
    binary = True
    """Records travel as bytes (a text format carries them in hex or base64)."""
    from_tier = 1
    """The lowest tier the format is drawn for."""
    encoding: str
    """How tier 4 encodes records (each format draws its own: ``xor``, ``packbits``, ``base64``...)."""
    xor_step: int
    """For an XOR stream: what the key grows by from byte to byte."""

    def __init__(self, parts: Parts, tier: int, handlers: list[str], longest: int, dispatch: str) -> None:
        self.parts = parts
        self.rng = parts.rng
        self.tier = tier
        self.handlers = handlers
        self.longest = longest
        """The longest body any record will carry."""
        self.dispatch = dispatch
        self.codes: dict[str, int] = {}
        self.checksum: Checksum | None = None
        self.inline_reads = tier >= 2 and self.rng.random() < 0.4

    @property
    def stages(self) -> list[str]:
        return list(STAGES[self.tier])

    def faults(self) -> list[str]:
        faults = []
        if self.tier >= 2:
            faults.append("length")
        if self.tier >= 3:
            faults.append("checksum")
        if self.tier >= 4:
            faults += ["order", "token"]
            if self.encoding_can_fail:
                faults.append("encoding")
        return faults

    encoding_can_fail = True

    @abstractmethod
    def encode(self, records: list[Record], fault: str | None = None) -> bytes: ...

    @abstractmethod
    def entry(self) -> Entry: ...

    def checksum_choice(self) -> tuple[Checksum, str]:
        name = self.parts.library.need("checksum")
        assert self.parts.library.checksum is not None
        return self.parts.library.checksum, name

    @property
    def sum_width(self) -> int:
        assert self.checksum is not None
        return self.checksum.width

    def sum(self, data: bytes) -> int:
        assert self.checksum is not None
        return self.checksum.value(data)

    def reader(self, width: int, endian: str) -> str:
        return self.parts.library.need(f"rd{8 * width}{endian}")

    def decoded_session(
        self, xor_start: str, counter: str, not_opening: str, closing: str, token: str, noun: str
    ) -> list[str]:
        """Tier 4, inside the loop over records of a format that decodes each record's data on its own: the data
        decoded into ``unpacked`` (an XOR stream from ``xor_start`` stepping by the format's step, counting with
        ``counter``; or PackBits), then the session: the first record (``not_opening`` is its C test failing) must
        carry ``token``, the one that passes ``closing`` ends the session, and nothing may follow it."""
        p, r, st = self.parts, self.parts.style.reject, self.parts.style.stage
        if self.encoding == "xor":
            key = f"(uint8_t)({xor_start} + {self.xor_step} * {counter})"
            lines = [
                f"        for (size_t {counter} = 0; {counter} < size; {counter}++)",
                f"            unpacked[{counter}] = data[{counter}] ^ {key};",
            ]
        else:
            unpack = p.library.need("packbits")
            lines = [
                f"        size = {unpack}(data, size, unpacked, sizeof unpacked);",
                f'        if (size == (size_t)-1) {r}("invalid encoding");',
            ]
        return lines + c(
            level=2,
            template="""
                data = unpacked;
                $stage("decode");
                if (state == 0) {
                    if ($not_opening) $reject("$noun out of order");
                    if (size != 4 || memcmp(data, $token, 4) != 0) $reject("bad token");
                    $stage("session");
                    state = 1;
                    continue;
                }
                if (state == 2) $reject("$noun out of order");
                if ($closing) {
                    state = 2;
                    continue;
                }""",
            not_opening=not_opening,
            closing=closing,
            token=token,
            noun=noun,
            reject=r,
            stage=st,
        )

    def read(self, width: int, endian: str, at: str) -> str:
        """A C expression for the ``width``-byte field of byte order ``endian`` at ``at``: a reader's call, or
        (from tier 2, in some programs) the shifts written out where the field is read."""
        if not self.inline_reads:
            return f"{self.reader(width, endian)}({at})"
        order = range(width) if endian == "le" else range(width - 1, -1, -1)
        base = at if at.isidentifier() else f"({at})"
        terms = [f"(uint32_t){base}[{i}] << {8 * k}" if k else f"{base}[{i}]" for k, i in enumerate(order)]
        return "(" + " | ".join(reversed(terms)) + ")"


# Binary TLV ------------------------------------------------------------------------------------------------


class Tlv(Format):
    name = "tlv"
    binary = True

    def __init__(self, parts: Parts, tier: int, handlers: list[str], longest: int, dispatch: str) -> None:
        super().__init__(parts, tier, handlers, longest, dispatch)
        rng = self.rng
        self.magic = bytes(rng.randrange(1, 256) for _ in range(rng.choice((2, 3, 4))))
        self.magic_style = rng.choice(("memcmp", "loop", "chained"))
        self.kind_first = rng.random() < 0.7
        self.len_width = 2 if longest > 255 or rng.random() < 0.4 else 1
        self.len_endian = rng.choice(("le", "be"))
        used = {0}
        for handler in handlers:
            code = rng.choice([value for value in range(1, 256) if value not in used])
            used.add(code)
            self.codes[handler] = code
        self.open_code, self.close_code = (rng.choice([v for v in range(1, 256) if v not in used]) for _ in range(2))
        while self.close_code == self.open_code:
            self.close_code = rng.choice([v for v in range(1, 256) if v not in used])
        self.version = rng.randrange(1, 200)
        fields = ["version", *rng.choice((["total"], ["count"], ["total", "count"]))]
        self.total_width, self.total_endian = rng.choice((2, 4)), rng.choice(("le", "be"))
        self.checksum, self.checksum_fn = self.checksum_choice() if tier >= 3 else (None, "")
        self.checksum_endian = rng.choice(("le", "be"))
        self.checksum_place = rng.choice(("header", "trailer"))
        if tier >= 3 and self.checksum_place == "header":
            fields.append("checksum")
        rng.shuffle(fields)
        self.fields = fields if tier >= 2 else []
        self.encoding = rng.choice(("xor", "packbits"))
        self.xor_key, self.xor_step = rng.randrange(256), rng.choice((1, 3, 5, 7, 11))
        self.token = bytes(rng.randrange(256) for _ in range(4))
        self.encoding_can_fail = self.encoding == "packbits"

    def width(self, field: str) -> int:
        return {
            "version": 1,
            "count": 1,
            "total": self.total_width,
            "checksum": (self.checksum.width if self.checksum else 0),
        }[field]

    def record(self, code: int, body: bytes) -> bytes:
        size = pack_int(len(body), self.len_width, self.len_endian)
        return (bytes([code]) + size if self.kind_first else size + bytes([code])) + body

    def encode(self, records: list[Record], fault: str | None = None) -> bytes:
        plain = [self.record(self.codes[handler], body) for handler, body in records]
        if self.tier >= 4:
            token = bytes(byte ^ 0x5A for byte in self.token) if fault == "token" else self.token
            opening = self.record(self.open_code, token)
            closing = self.record(self.close_code, b"")
            plain = [*plain[:1], opening, *plain[1:], closing] if fault == "order" else [opening, *plain, closing]
        region = b"".join(plain)
        if self.tier >= 4:
            if self.encoding == "xor":
                region = xor_stream(region, self.xor_key, self.xor_step)
            else:
                region = packbits(region)
                if fault == "encoding":
                    region += bytes([5, 0x41])  # a literal run of six bytes, two of them present
        values = {"version": self.version, "count": len(plain), "total": len(region)}
        if fault == "length":
            values["count" if "count" in self.fields else "total"] += 1
        stored = b""
        if self.tier >= 3:
            width = self.sum_width
            value = self.sum(region) ^ (1 if fault == "checksum" else 0)
            stored = pack_int(value & ((1 << (8 * width)) - 1), width, self.checksum_endian)
        header = b""
        for name in self.fields:
            if name == "checksum":
                header += stored
            elif name == "total":
                header += pack_int(values["total"], self.total_width, self.total_endian)
            else:
                header += bytes([values[name] & 0xFF])
        trailer = stored if self.tier >= 3 and self.checksum_place == "trailer" else b""
        return self.magic + header + region + trailer

    def entry(self) -> Entry:
        p, rng = self.parts, self.rng
        r, st = p.style.reject, p.style.stage
        names = p.names
        function = names.one_of(f"{names.prefix}_parse", "parse_stream", "read_records", f"{names.prefix}_ingest")
        magic = names.constant(names.prefix, "magic")
        n = len(self.magic)
        lines = ['#include "HEADER"', ""]
        if self.magic_style != "chained":
            lines += [f"static const uint8_t {magic}[{n}] = {{{c_bytes(self.magic)}}};"]
        if self.tier >= 4:
            lines += [
                f"static const uint8_t SESSION_TOKEN[4] = {{{c_bytes(self.token)}}};",
                f"static uint8_t plain[{MAX_INPUT}];",
            ]
        lines += ["", f"int {function}(const uint8_t *in, size_t n) {{"]
        if self.magic_style == "memcmp":
            lines += [f'    if (n < {n} || memcmp(in, {magic}, {n}) != 0) {r}("bad magic");']
        elif self.magic_style == "loop":
            lines += [
                f'    if (n < {n}) {r}("bad magic");',
                f"    for (size_t i = 0; i < {n}; i++)",
                f'        if (in[i] != {magic}[i]) {r}("bad magic");',
            ]
        else:
            tests = " || ".join(f"in[{i}] != 0x{byte:02x}" for i, byte in enumerate(self.magic))
            lines += [f'    if (n < {n} || {tests}) {r}("bad magic");']
        lines += [f'    {st}("framing");', f"    size_t off = {n};"]
        header = sum(self.width(name) for name in self.fields)
        if self.fields:
            lines += [f'    if (n - off < {header}) {r}("short header");']
        for name in self.fields:
            width = self.width(name)
            if name == "version":
                lines += [f'    if (in[off] != {self.version}) {r}("unsupported version");', "    off += 1;"]
            elif name == "count":
                lines += ["    size_t declared = in[off];", "    off += 1;"]
            elif name == "total":
                lines += [
                    f"    size_t total = {self.read(width, self.total_endian, 'in + off')};",
                    f"    off += {width};",
                ]
            else:
                lines += [
                    f"    uint32_t stored = {self.read(width, self.checksum_endian, 'in + off')};",
                    f"    off += {width};",
                ]
        lines += ["    const uint8_t *region = in + off;", "    size_t region_len = n - off;"]
        if self.tier >= 3 and self.checksum_place == "trailer":
            width = self.sum_width
            lines += [
                f'    if (region_len < {width}) {r}("short trailer");',
                f"    region_len -= {width};",
                f"    uint32_t stored = {self.read(width, self.checksum_endian, 'region + region_len')};",
            ]
        if "total" in self.fields:
            lines += [f'    if (total != region_len) {r}("length does not match");']
        if self.tier >= 3:
            lines += [
                f'    if ({self.checksum_fn}(region, region_len) != stored) {r}("bad checksum");',
                f'    {st}("checksum");',
            ]
        if self.tier >= 4:
            if self.encoding == "xor":
                lines += [
                    "    for (size_t i = 0; i < region_len; i++)",
                    f"        plain[i] = region[i] ^ (uint8_t)(0x{self.xor_key:02x} + {self.xor_step} * i);",
                ]
            else:
                unpack = p.library.need("packbits")
                lines += [
                    f"    size_t unpacked = {unpack}(region, region_len, plain, sizeof plain);",
                    f'    if (unpacked == (size_t)-1) {r}("invalid encoding");',
                    "    region_len = unpacked;",
                ]
            lines += ["    region = plain;", f'    {st}("decode");']
        head = 1 + self.len_width
        kind_at, size_at = (0, 1) if self.kind_first else (self.len_width, 0)
        size_expr = (
            f"region[at + {size_at}]"
            if self.len_width == 1
            else self.read(2, self.len_endian, f"region + at + {size_at}")
        )
        lines += c(
            level=1,
            template="""
                size_t records = 0;
                for (size_t at = 0; at < region_len;) {
                    if (region_len - at < $head) $reject("truncated record");
                    size_t size = $size;
                    if (size > region_len - at - $head) $reject("truncated record");
                    at += $head + size;
                    records++;
                }""",
            head=head,
            size=size_expr,
            reject=r,
        )
        if "count" in self.fields:
            lines += [f'    if (records != declared) {r}("record count does not match");']
        if self.tier >= 2:
            lines += [f'    {st}("header");']
        if self.tier >= 4:
            lines += ["    int state = 0;"]
        lines += [
            "    for (size_t at = 0; at < region_len;) {",
            f"        int kind = region[at + {kind_at}];",
            f"        size_t size = {size_expr};",
            f"        const uint8_t *value = region + at + {head};",
            f"        at += {head} + size;",
        ]
        if self.tier >= 4:
            lines += c(
                level=2,
                template="""
                        if (state == 0) {
                            if (kind != 0x$open) $reject("records out of order");
                            if (size != 4 || memcmp(value, SESSION_TOKEN, 4) != 0) $reject("bad token");
                            $stage("session");
                            state = 1;
                            continue;
                        }
                        if (state == 2) $reject("records out of order");
                        if (kind == 0x$close) {
                            state = 2;
                            continue;
                        }""",
                open=f"{self.open_code:02x}",
                close=f"{self.close_code:02x}",
                reject=r,
                stage=st,
            )
        lines += [f"        {self.dispatch}(kind, value, size);", "    }"]
        if self.tier >= 4:
            lines += [f'    if (state != 2) {r}("session not closed");']
        lines += ["    return (int)records;", "}"]
        file = rng.choice(("wire.c", "records.c", "tlv.c", "stream.c"))
        return Entry(function, file, lines)


# PNG-like chunks ----------------------------------------------------------------------------------------


class Chunks(Format):
    name = "chunks"
    binary = True

    def __init__(self, parts: Parts, tier: int, handlers: list[str], longest: int, dispatch: str) -> None:
        super().__init__(parts, tier, handlers, longest, dispatch)
        rng = self.rng
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        self.signature = (
            bytes([rng.randrange(0x80, 0x100)]) + "".join(rng.choice(letters[:26]) for _ in range(3)).encode()
        )
        self.signature += rng.choice((b"\r\n\x1a\n", bytes(rng.randrange(1, 256) for _ in range(4))))
        used: set[str] = set()

        def fresh() -> str:
            while True:
                name = "".join(rng.choice(letters) for _ in range(4))
                if name not in used:
                    used.add(name)
                    return name

        self.types = {handler: fresh() for handler in handlers}
        for code, handler in enumerate(handlers, start=rng.randrange(1, 40)):
            self.codes[handler] = code
        self.header_type, self.key_type, self.end_type = fresh(), fresh(), fresh()
        self.len_width = rng.choice((2, 4)) if longest < 60000 else 4
        self.len_endian = rng.choice(("le", "be"))
        self.version = rng.randrange(1, 100)
        # Version 3: from tier 2 the header chunk's fields (a version, a chunk count, sometimes a reserved
        # field) come in a drawn order and widths, and the count may include the header chunk itself.
        self.header_fields: list[tuple[str, int]] = [("version", 1), ("count", 2)]
        self.count_includes_header = False
        if tier >= 2:
            fields = [("version", rng.choice((1, 2))), ("count", rng.choice((1, 2, 4)))]
            if rng.random() < 0.4:
                fields.append(("reserved", rng.choice((1, 2))))
            rng.shuffle(fields)
            self.header_fields = fields
            self.count_includes_header = rng.random() < 0.4
        self.checksum, self.checksum_fn = self.checksum_choice() if tier >= 3 else (None, "")
        self.checksum_endian = rng.choice(("le", "be"))
        self.encoding = rng.choice(("xor", "packbits"))
        self.xor_step = rng.choice((1, 3, 5, 7, 13))
        self.token = bytes(rng.randrange(256) for _ in range(4))
        self.encoding_can_fail = self.encoding == "packbits"

    def chunk(self, kind: str, data: bytes, *, bad_sum: bool = False) -> bytes:
        body = kind.encode() + data
        out = pack_int(len(data), self.len_width, self.len_endian) + body
        if self.tier >= 3:
            width = self.sum_width
            value = self.sum(body) ^ (1 if bad_sum else 0)
            out += pack_int(value & ((1 << (8 * width)) - 1), width, self.checksum_endian)
        return out

    def pack(self, kind: str, data: bytes) -> bytes:
        if self.tier < 4:
            return data
        if self.encoding == "xor":
            return xor_stream(data, kind.encode()[0], self.xor_step)
        return packbits(data)

    def encode(self, records: list[Record], fault: str | None = None) -> bytes:
        chunks = [(self.types[handler], self.pack(self.types[handler], body)) for handler, body in records]
        if fault == "encoding" and chunks:
            kind, data = chunks[-1]
            chunks[-1] = (kind, data + bytes([9, 0x42]))
        if self.tier >= 4:
            token = bytes(byte ^ 0x3C for byte in self.token) if fault == "token" else self.token
            key = (self.key_type, self.pack(self.key_type, token))
            end = (self.end_type, b"")
            chunks = [*chunks[:1], key, *chunks[1:], end] if fault == "order" else [key, *chunks, end]
        if self.tier >= 2:
            count = len(chunks) + (1 if fault == "length" else 0)
            count += 1 if self.count_includes_header else 0
            values = {"version": self.version, "count": count, "reserved": 0}
            header = b"".join(pack_int(values[name], width, self.len_endian) for name, width in self.header_fields)
            chunks = [(self.header_type, header), *chunks]
        out = self.signature
        for index, (kind, data) in enumerate(chunks):
            out += self.chunk(kind, data, bad_sum=fault == "checksum" and index == len(chunks) - 1)
        return out

    def entry(self) -> Entry:
        p, rng, names = self.parts, self.rng, self.parts.names
        r, st = p.style.reject, p.style.stage
        function = names.one_of("read_chunks", f"{names.prefix}_load_file", "walk_chunks", f"{names.prefix}_open")
        code_of = names.take(f"{names.prefix}_chunk_code")
        types = names.constant(names.prefix, "chunk", "types")
        checksum_width = self.checksum.width if self.checksum else 0
        rows = ", ".join(f'{{"{self.types[h]}", {self.codes[h]}}}' for h in self.handlers)
        lines = [
            '#include "HEADER"',
            "",
            f"static const uint8_t SIGNATURE[8] = {{{c_bytes(self.signature)}}};",
            f"static const struct {{ char type[5]; int code; }} {types}[] = {{{rows}}};",
        ]
        if self.tier >= 4:
            lines += [
                f"static uint8_t unpacked[{MAX_INPUT}];",
                f"static const uint8_t KEY_TOKEN[4] = {{{c_bytes(self.token)}}};",
            ]
        lines += c(
            """

            static int $code_of(const uint8_t *type) {
                for (size_t i = 0; i < sizeof $types / sizeof $types[0]; i++)
                    if (memcmp(type, $types[i].type, 4) == 0) return $types[i].code;
                return -1;
            }

            int $function(const uint8_t *in, size_t n) {
                if (n < 8 || memcmp(in, SIGNATURE, 8) != 0) $reject("bad signature");
                $stage("framing");
                size_t chunks = 0;""",
            code_of=code_of,
            types=types,
            function=function,
            reject=r,
            stage=st,
        )
        overhead = self.len_width + 4 + checksum_width
        if self.tier >= 2:
            lines += ["    unsigned long declared = 0;"]
        lines += [
            "    for (size_t at = 8; at < n;) {",
            f'        if (n - at < {overhead}) {r}("truncated chunk");',
            f"        size_t size = {self.read(self.len_width, self.len_endian, 'in + at')};",
            *([f"        const uint8_t *type = in + at + {self.len_width};"] if self.tier >= 2 else []),
            f'        if (size > n - at - {overhead}) {r}("truncated chunk");',
        ]
        if self.tier >= 3:
            lines += [
                f"        uint32_t stored = {self.read(checksum_width, self.checksum_endian, 'type + 4 + size')};",
                f'        if ({self.checksum_fn}(type, 4 + size) != stored) {r}("bad checksum");',
            ]
        if self.tier >= 2:
            size = sum(width for _, width in self.header_fields)
            lines += [
                "        if (chunks == 0) {",
                f'            if (memcmp(type, "{self.header_type}", 4) != 0 || size != {size})',
                f'                {r}("missing header chunk");',
            ]
            offset = 4
            for name, width in self.header_fields:
                field = f"type[{offset}]" if width == 1 else self.read(width, self.len_endian, f"type + {offset}")
                if name == "version":
                    lines += [f'            if ({field} != {self.version}) {r}("unsupported version");']
                elif name == "count":
                    lines += [f"            declared = {field};"]
                offset += width
            lines += ["        }"]
        lines += [f"        at += {overhead} + size;", "        chunks++;", "    }"]
        if self.tier >= 3:
            lines += [f'    {st}("checksum");']
        if self.tier >= 2:
            lines += [
                f"    if (chunks == 0 || declared != chunks{'' if self.count_includes_header else ' - 1'})"
                f' {r}("chunk count does not match");',
                f'    {st}("header");',
            ]
        if self.tier >= 4:
            lines += ["    int state = 0;"]
        lines += [
            "    for (size_t at = 8, index = 0; at < n; index++) {",
            f"        size_t size = {self.read(self.len_width, self.len_endian, 'in + at')};",
            f"        const uint8_t *type = in + at + {self.len_width};",
            "        const uint8_t *data = type + 4;",
            f"        at += {overhead} + size;",
        ]
        if self.tier >= 2:
            lines += ["        if (index == 0) continue;"]
        if self.tier >= 4:
            lines += self.decoded_session(
                "type[0]",
                "i",
                f'memcmp(type, "{self.key_type}", 4) != 0',
                f'memcmp(type, "{self.end_type}", 4) == 0',
                "KEY_TOKEN",
                "chunks",
            )
        lines += [
            f"        int code = {code_of}(type);",
            f'        if (code < 0) {r}("unknown chunk type");',
            f"        {self.dispatch}(code, data, size);",
            "    }",
        ]
        if self.tier >= 4:
            lines += [f'    if (state != 2) {r}("missing end chunk");']
        lines += ["    return (int)chunks;", "}"]
        return Entry(function, rng.choice(("chunks.c", "container.c", "image.c", "fileformat.c")), lines)


# A text protocol ------------------------------------------------------------------------------------


class Lines(Format):
    name = "lines"
    binary = False
    VERBS = (
        "NAME", "PUSH", "LOAD", "SEND", "NOTE", "PUT", "POST", "FEED", "STEP", "MARK", "SYNC", "LINK", "SCAN",
        "TAG", "ADD", "SET", "MAP", "QUOTE", "FILL", "PLAN", "TRACE", "BIND", "DROP", "SEEK", "SORT", "WEIGH",
    )  # fmt: skip

    def __init__(self, parts: Parts, tier: int, handlers: list[str], longest: int, dispatch: str) -> None:
        super().__init__(parts, tier, handlers, longest, dispatch)
        rng = self.rng
        self.word = rng.choice((parts.names.theme, parts.names.prefix, parts.names.noun())).upper()
        self.version = f"{rng.randrange(1, 5)}.{rng.randrange(0, 10)}"
        verbs = rng.sample(self.VERBS, len(handlers))
        self.verbs = dict(zip(handlers, verbs, strict=True))
        for code, handler in enumerate(handlers, start=rng.randrange(1, 50)):
            self.codes[handler] = code
        self.newline = rng.choice(("\n", "\r\n"))
        self.checksum, self.checksum_fn = self.checksum_choice() if tier >= 3 else (None, "")
        self.token = "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice((8, 12, 16))))
        # Version 3: from tier 2 the protocol's own words and the command's separator are drawn too.
        plain = tier < 2
        self.end = "END" if plain else rng.choice(("END", "DONE", "BYE", "QUIT", "OVER", "FIN", "TOTAL"))
        self.check = "CHECK" if plain else rng.choice(("CHECK", "SUM", "CRC", "DIGEST", "MAC", "VERIFY"))
        self.auth = "AUTH" if plain else rng.choice(("AUTH", "HELLO", "LOGIN", "TOKEN", "KEY"))
        self.sep = " " if plain else rng.choice((" ", ":", "|", ","))

    def body_text(self, body: bytes) -> str:
        return base64.b64encode(body).decode() if self.tier >= 4 else body.hex()

    def auth_check(self) -> str:
        """The C that lets the header scan pass over the session's opening line (tier 4)."""
        if self.tier < 4:
            return ""
        word = len(self.auth) + 1
        return f'!(len > {word} && memcmp(line, "{self.auth} ", {word}) == 0) &&'

    def encode(self, records: list[Record], fault: str | None = None) -> bytes:
        commands = []
        for index, (handler, body) in enumerate(records):
            text = self.body_text(body)
            if fault == "encoding" and index == len(records) - 1:
                text = "*" + text[1:] if text else "*AAA"
            size = len(body) + (1 if fault == "length" and index == 0 else 0)
            commands.append(
                self.sep.join([self.verbs[handler], str(size), text] if self.tier >= 2 else [self.verbs[handler], text])
            )
        if self.tier >= 4:
            auth = f"{self.auth} " + ("0" * len(self.token) if fault == "token" else self.token)
            commands = [*commands[:1], auth, *commands[1:]] if fault == "order" else [auth, *commands]
        lines = [f"{self.word}/{self.version}", *commands]
        if self.tier >= 2:
            lines.append(f"{self.end} {len(commands)}")
        text = "".join(line + self.newline for line in lines)
        if self.tier >= 3:
            value = self.sum(text.encode()) ^ (1 if fault == "checksum" else 0)
            text += f"{self.check} {value:08x}{self.newline}"
        return text.encode()

    def entry(self) -> Entry:
        p, rng, names = self.parts, self.rng, self.parts.names
        r, st = p.style.reject, p.style.stage
        function = names.one_of("serve_session", f"{names.prefix}_protocol", "handle_commands", "run_protocol")
        next_line, command = names.take("next_line"), names.take(f"{names.prefix}_command")
        verbs = names.constant(names.prefix, "verbs")
        decode = p.library.need("base64" if self.tier >= 4 else "hex")
        decimal = p.library.need("decimal") if self.tier >= 2 else ""
        rows = ", ".join(f'{{"{self.verbs[h]}", {self.codes[h]}}}' for h in self.handlers)
        banner = f"{self.word}/"
        lines = [
            '#include "HEADER"',
            "",
            f"static const struct {{ const char *verb; int code; }} {verbs}[] = {{{rows}}};",
            f"static char line[{MAX_INPUT + 1}];",
            f"static uint8_t decoded[{MAX_INPUT}];",
            "",
            "/* The next line of the input, without its line ending, into line; its length, or -1 at the end. */",
            f"static long {next_line}(const uint8_t *in, size_t n, size_t *at) {{",
            "    if (*at >= n) return -1;",
            "    size_t start = *at, end = start;",
            "    while (end < n && in[end] != '\\n') end++;",
            "    *at = end < n ? end + 1 : end;",
            "    if (end > start && in[end - 1] == '\\r') end--;",
            "    memcpy(line, in + start, end - start);",
            "    line[end - start] = '\\0';",
            "    return (long)(end - start);",
            "}",
            "",
            "/* A command line: its code, and its data decoded into decoded; -1 for a line that is no command. */",
            f"static int {command}(long len, size_t *size) {{",
            f"    char *space = memchr(line, '{self.sep}', (size_t)len);",
            "    size_t verb_len = space ? (size_t)(space - line) : (size_t)len;",
            "    int code = -1;",
            f"    for (size_t i = 0; i < sizeof {verbs} / sizeof {verbs}[0]; i++)",
            f"        if (strlen({verbs}[i].verb) == verb_len && memcmp(line, {verbs}[i].verb, verb_len) == 0)",
            f"            code = {verbs}[i].code;",
            "    if (code < 0) return -1;",
            '    const char *rest = space ? space + 1 : "";',
            "    size_t rest_len = space ? (size_t)len - verb_len - 1 : 0;",
        ]
        if self.tier >= 2:
            lines += [
                f"    const char *gap = memchr(rest, '{self.sep}', rest_len);",
                f'    if (gap == NULL) {r}("command without a length");',
                "    unsigned long declared;",
                f'    if (!{decimal}(rest, (size_t)(gap - rest), &declared)) {r}("bad length");',
                "    rest_len -= (size_t)(gap - rest) + 1;",
                "    rest = gap + 1;",
            ]
        lines += [
            f"    *size = {decode}(rest, rest_len, decoded, sizeof decoded);",
            f'    if (*size == (size_t)-1) {r}("invalid encoding");',
        ]
        if self.tier >= 2:
            lines += [f'    if (*size != declared) {r}("length does not match");']
        lines += ["    return code;", "}", ""]
        lines += [f"int {function}(const uint8_t *in, size_t n) {{", "    size_t at = 0;"]
        if self.tier >= 3:
            lines += c(
                level=1,
                template="""
                    /* The last line must be $check <hex>, over everything before it. */
                    size_t tail = n;
                    if (tail > 0 && in[tail - 1] == '\\n') tail--;
                    if (tail > 0 && in[tail - 1] == '\\r') tail--;
                    size_t start = tail;
                    while (start > 0 && in[start - 1] != '\\n') start--;""",
                check=self.check,
            )
        lines += [
            f"    long len = {next_line}(in, {'start' if self.tier >= 3 else 'n'}, &at);",
            f'    if (len < {len(banner)} || memcmp(line, "{banner}", {len(banner)}) != 0) {r}("missing banner");',
            f'    {st}("framing");',
        ]
        if self.tier >= 2:
            lines += [f'    if (strcmp(line + {len(banner)}, "{self.version}") != 0) {r}("unsupported version");']
        if self.tier >= 3:
            lines += c(
                level=1,
                template="""
                    if (tail - start != $line_len || memcmp(in + start, "$check ", $word) != 0)
                        $reject("missing checksum");
                    uint32_t stored = 0;
                    for (size_t i = start + $word; i < tail; i++) {
                        int digit = in[i] >= '0' && in[i] <= '9' ? in[i] - '0'
                                  : in[i] >= 'a' && in[i] <= 'f' ? in[i] - 'a' + 10 : -1;
                        if (digit < 0) $reject("missing checksum");
                        stored = stored << 4 | (uint32_t)digit;
                    }
                    if ($checksum(in, start) != stored) $reject("bad checksum");
                    $stage("checksum");
                    n = start;""",
                reject=r,
                checksum=self.checksum_fn,
                stage=st,
                check=self.check,
                word=len(self.check) + 1,
                line_len=len(self.check) + 9,
            )
        if self.tier >= 2:
            lines += c(
                level=1,
                template="""
                    size_t body_at = at, commands = 0, size;
                    int ended = 0;
                    while ((len = $next_line(in, n, &at)) >= 0) {
                        if (ended) $reject("data after $end");
                        if (len > $word && memcmp(line, "$end ", $word) == 0) {
                            unsigned long declared;
                            if (!$decimal(line + $word, (size_t)len - $word, &declared) || declared != commands)
                                $reject("command count does not match");
                            ended = 1;
                            continue;
                        }
                        if ($auth_check $command(len, &size) < 0) $reject("unknown command");
                        commands++;
                    }
                    if (!ended) $reject("missing $end");
                    $stage("header");
                    at = body_at;""",
                next_line=next_line,
                decimal=decimal,
                command=command,
                reject=r,
                stage=st,
                auth_check=self.auth_check(),
                end=self.end,
                word=len(self.end) + 1,
            )
        else:
            lines += ["    size_t size;"]
        if self.tier >= 4:
            lines += c(
                level=1,
                template="""
                    $stage("decode");
                    len = $next_line(in, n, &at);
                    if (len < $word || memcmp(line, "$auth ", $word) != 0) $reject("commands out of order");
                    if (strcmp(line + $word, "$token") != 0) $reject("bad token");
                    $stage("session");""",
                next_line=next_line,
                token=self.token,
                reject=r,
                stage=st,
                auth=self.auth,
                word=len(self.auth) + 1,
            )
        lines += [
            f"    while ((len = {next_line}(in, n, &at)) >= 0) {{",
        ]
        if self.tier >= 2:
            word = len(self.end) + 1
            lines += [f'        if (len > {word} && memcmp(line, "{self.end} ", {word}) == 0) break;']
        if self.tier >= 4:
            word = len(self.auth) + 1
            lines += [
                f'        if (len > {word} && memcmp(line, "{self.auth} ", {word}) == 0) {r}("commands out of order");'
            ]
        lines += [
            f"        int code = {command}(len, &size);",
            f'        if (code < 0) {r}("unknown command");',
            f"        {self.dispatch}(code, decoded, size);",
            "    }",
            "    return 0;",
            "}",
        ]
        return Entry(function, rng.choice(("protocol.c", "session.c", "commands.c", "server.c")), lines)


# An INI-style configuration -----------------------------------------------------------------------------


class Config(Format):
    name = "config"
    binary = False
    KEYS = (
        "name", "title", "path", "items", "table", "rows", "limit", "mode", "level", "owner", "group", "color",
        "policy", "target", "source", "filter", "range", "scale", "label", "notes", "ops", "entries", "flags",
    )  # fmt: skip

    def __init__(self, parts: Parts, tier: int, handlers: list[str], longest: int, dispatch: str) -> None:
        super().__init__(parts, tier, handlers, longest, dispatch)
        rng = self.rng
        sections = rng.sample(parts.names.nouns, min(len(parts.names.nouns), rng.randrange(2, 4)))
        keys = rng.sample(self.KEYS, len(handlers))
        self.places = {handler: (rng.choice(sections), key) for handler, key in zip(handlers, keys, strict=True)}
        for code, handler in enumerate(handlers, start=rng.randrange(1, 60)):
            self.codes[handler] = code
        self.first = rng.choice(("; {} configuration", "# {} settings", "; generated by {}")).format(parts.names.prefix)
        self.separator = rng.choice((" = ", "=", ": "))
        self.version = rng.randrange(1, 30)
        self.checksum, self.checksum_fn = self.checksum_choice() if tier >= 3 else (None, "")
        self.token = "".join(rng.choice("0123456789abcdef") for _ in range(rng.choice((8, 16))))
        # Version 3: from tier 2 the names of the configuration's own sections and keys are drawn too.
        taken = set(sections)

        def word(*choices: str) -> str:
            if tier < 2:
                return choices[0]
            chosen = rng.choice([choice for choice in choices if choice not in taken])
            taken.add(chosen)
            return chosen

        self.meta = word("meta", "header", "about", "document", "format", "preamble")
        self.version_key = word("version", "revision", "schema", "format_version", "level")
        self.entries_key = word("entries", "count", "settings", "total", "declared")
        self.checksum_key = word("checksum", "crc", "digest", "sum", "integrity")
        self.auth_section = word("auth", "session", "login", "access", "credentials")
        self.token_key = word("token", "key", "secret", "ticket", "pass")
        self.end_section = word("end", "done", "eof", "finish", "close")

    def value_text(self, body: bytes) -> str:
        return base64.b64encode(body).decode() if self.tier >= 4 else body.hex()

    def encode(self, records: list[Record], fault: str | None = None) -> bytes:
        entries: list[tuple[str, str]] = []
        for index, (handler, body) in enumerate(records):
            text = self.value_text(body)
            if fault == "encoding" and index == len(records) - 1:
                text = "*" + text[1:] if text else "*AAA"
            entries.append((self.places[handler][0], f"{self.places[handler][1]}{self.separator}{text}"))
        sep = self.separator
        lines = [self.first]
        if self.tier >= 2:
            count = len(entries) + (1 if fault == "length" else 0)
            lines += [f"[{self.meta}]", f"{self.version_key}{sep}{self.version}", f"{self.entries_key}{sep}{count}"]
        token = "f" * len(self.token) if fault == "token" else self.token
        auth = [f"[{self.auth_section}]", f"{self.token_key}{sep}{token}"]
        if self.tier >= 4 and fault != "order":
            lines += auth
        current = None
        for index, (section, entry) in enumerate(entries):
            if section != current:
                lines += ["", f"[{section}]"]
                current = section
            lines.append(entry)
            if self.tier >= 4 and fault == "order" and index == 0:
                lines += auth
                current = "auth"
        if self.tier >= 4:
            lines.append(f"[{self.end_section}]")
        text = "".join(line + "\n" for line in lines)
        if self.tier >= 3:
            value = self.sum(text.encode()) ^ (1 if fault == "checksum" else 0)
            text += f"{self.checksum_key}{sep}{value:08x}\n"
        return text.encode()

    def entry(self) -> Entry:
        p, rng, names = self.parts, self.rng, self.parts.names
        r, st = p.style.reject, p.style.stage
        function = names.one_of("load_config", f"{names.prefix}_configure", "apply_settings", "read_settings")
        split, lookup = names.take("split_entry"), names.take(f"{names.prefix}_setting")
        table = names.constant(names.prefix, "settings")
        decode = p.library.need("base64" if self.tier >= 4 else "hex")
        decimal = p.library.need("decimal") if self.tier >= 2 else ""
        sep = self.separator.strip()
        rows = ", ".join(f'{{"{self.places[h][0]}", "{self.places[h][1]}", {self.codes[h]}}}' for h in self.handlers)
        lines = [
            '#include "HEADER"',
            "",
            f"static const struct {{ const char *section; const char *key; int code; }} {table}[] = {{{rows}}};",
            f"static char text[{MAX_INPUT + 1}];",
            f"static uint8_t value[{MAX_INPUT}];",
            "",
            "/* Splits a trimmed line at its separator: key and value, both trimmed; 0 if there is none. */",
            f"static int {split}(char *line, char **key, char **val) {{",
            f"    char *sep = strchr(line, '{sep}');",
            "    if (sep == NULL) return 0;",
            "    char *end = sep;",
            "    while (end > line && end[-1] == ' ') end--;",
            "    *end = '\\0';",
            "    char *v = sep + 1;",
            "    while (*v == ' ') v++;",
            "    *key = line;",
            "    *val = v;",
            "    return 1;",
            "}",
            "",
            f"static int {lookup}(const char *section, const char *key) {{",
            f"    for (size_t i = 0; i < sizeof {table} / sizeof {table}[0]; i++)",
            f"        if (strcmp({table}[i].section, section) == 0 && strcmp({table}[i].key, key) == 0)",
            f"            return {table}[i].code;",
            "    return -1;",
            "}",
            "",
            f"int {function}(const uint8_t *in, size_t n) {{",
            "    if (memchr(in, 0, n) != NULL) " + f'{r}("not a text file");',
            "    memcpy(text, in, n);",
            "    text[n] = '\\0';",
        ]
        if self.tier >= 3:
            lines += c(
                level=1,
                template="""
                    /* The last line must be the checksum of everything before it. */
                    size_t tail = n;
                    if (tail > 0 && text[tail - 1] == '\\n') tail--;
                    size_t start = tail;
                    while (start > 0 && text[start - 1] != '\\n') start--;
                    text[tail] = '\\0';
                    char *ckey, *cval;
                    unsigned long stored = 0;
                    if (!$split(text + start, &ckey, &cval) || strcmp(ckey, "checksum") != 0 || strlen(cval) != 8)
                        $reject("missing checksum");
                    for (const char *c = cval; *c; c++) {
                        int digit = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;
                        if (digit < 0) $reject("missing checksum");
                        stored = stored << 4 | (unsigned long)digit;
                    }
                    if ($checksum(in, start) != stored) $reject("bad checksum");
                    text[start] = '\\0';""",
                split=split,
                reject=r,
                checksum=self.checksum_fn,
            )
        first = self.first
        lines += [
            "    char *first_end = strchr(text, '\\n');",
            f"    if (first_end == NULL || (size_t)(first_end - text) != {len(first)}",
            f'        || memcmp(text, "{first}", {len(first)}) != 0)',
            f'        {r}("not a {names.prefix} configuration");',
            f'    {st}("framing");',
        ]
        if self.tier >= 3:
            lines += [f'    {st}("checksum");']
        lines += c(
            level=1,
            template="""
                char *lines[$limit];
                size_t count = 0;
                for (char *cursor = first_end + 1; *cursor && count < $limit;) {
                    char *end = strchr(cursor, '\\n');
                    if (end) *end = '\\0';
                    while (*cursor == ' ') cursor++;
                    size_t len = strlen(cursor);
                    while (len > 0 && (cursor[len - 1] == ' ' || cursor[len - 1] == '\\r')) cursor[--len] = '\\0';
                    if (len > 0 && cursor[0] != ';' && cursor[0] != '#') lines[count++] = cursor;
                    if (!end) break;
                    cursor = end + 1;
                }""",
            limit=MAX_INPUT // 2,
        )
        lines += ['    const char *section = "";', "    size_t i = 0;"]
        if self.tier >= 2:
            lines += c(
                level=1,
                template="""
                    unsigned long declared = 0, version = 0, entries = 0;
                    for (size_t k = 0; k < count; k++) {
                        char *key, *val;
                        if (lines[k][0] == '[') {
                            section = lines[k];
                            continue;
                        }
                        if (strcmp(section, "[meta]") == 0) {
                            if (!$split(lines[k], &key, &val)) $reject("bad meta entry");
                            if (strcmp(key, "version") == 0 && !$decimal(val, strlen(val), &version))
                                $reject("bad version");
                            if (strcmp(key, "entries") == 0 && !$decimal(val, strlen(val), &declared))
                                $reject("bad entry count");
                            continue;
                        }
                        if (strcmp(section, "[auth]") != 0) entries++;
                    }
                    if (count == 0 || strcmp(lines[0], "[meta]") != 0) $reject("missing meta section");
                    if (version != $version) $reject("unsupported version");
                    if (declared != entries $end_adjust) $reject("entry count does not match");
                    $stage("header");
                    section = "";""",
                split=split,
                decimal=decimal,
                reject=r,
                stage=st,
                version=self.version,
                end_adjust="+ 0" if self.tier < 4 else "",
            )
        if self.tier >= 4:
            lines += [f'    {st}("decode");', "    int state = 0;"]
        lines += c(
            level=1,
            template="""
                for (; i < count; i++) {
                    char *key, *val;
                    if (lines[i][0] == '[') {
                        section = lines[i];$section_hook
                        continue;
                    }""",
            section_hook=(
                f'\n            if (strcmp(section, "[end]") == 0) {{'
                f' if (state != 1) {r}("sections out of order"); state = 2; }}'
                if self.tier >= 4
                else ""
            ),
        )
        if self.tier >= 2:
            lines += ['        if (strcmp(section, "[meta]") == 0) continue;']
        if self.tier >= 4:
            lines += c(
                level=2,
                template="""
                        if (state == 2) $reject("entries after [end]");
                        if (strcmp(section, "[auth]") == 0) {
                            if (!$split(lines[i], &key, &val) || strcmp(key, "token") != 0) $reject("bad auth section");
                            if (strcmp(val, "$token") != 0) $reject("bad token");
                            $stage("session");
                            state = 1;
                            continue;
                        }
                        if (state != 1) $reject("sections out of order");""",
                split=split,
                token=self.token,
                reject=r,
                stage=st,
            )
        lines += c(
            level=2,
            template="""
                    if (!$split(lines[i], &key, &val)) $reject("entry without a value");
                    char name[64];
                    size_t section_len = strlen(section);
                    if (section_len < 2 || section_len - 2 >= sizeof name) $reject("bad section");
                    memcpy(name, section + 1, section_len - 2);
                    name[section_len - 2] = '\\0';
                    int code = $lookup(name, key);
                    if (code < 0) $reject("unknown setting");
                    size_t size = $decode(val, strlen(val), value, sizeof value);
                    if (size == (size_t)-1) $reject("invalid encoding");
                    $dispatch(code, value, size);
                }""",
            split=split,
            lookup=lookup,
            decode=decode,
            dispatch=self.dispatch,
            reject=r,
        )
        if self.tier >= 4:
            lines += [f'    if (state != 2) {r}("missing [end]");']
        lines += ["    return (int)count;", "}"]
        words = {
            'strcmp(ckey, "checksum")': f'strcmp(ckey, "{self.checksum_key}")',
            '"[meta]"': f'"[{self.meta}]"',
            'strcmp(key, "version")': f'strcmp(key, "{self.version_key}")',
            'strcmp(key, "entries")': f'strcmp(key, "{self.entries_key}")',
            '"[auth]"': f'"[{self.auth_section}]"',
            'strcmp(key, "token")': f'strcmp(key, "{self.token_key}")',
            "[end]": f"[{self.end_section}]",
        }
        for old, new in words.items():
            lines = [line.replace(old, new) for line in lines]
        return Entry(function, rng.choice(("config.c", "settings.c", "ini.c", "options.c")), lines)


FORMATS: list[type[Format]] = [Tlv, Chunks, Lines, Config]
