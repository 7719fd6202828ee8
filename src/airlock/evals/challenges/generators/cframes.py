"""Input formats added in generator version 4, from tier 2 (tier 1 keeps version 3's binary formats, which the
classical baselines are calibrated on):

* ``keyed``: records as in a protocol-buffer stream: a varint key (the field number shifted, and a wire type), a
  varint length, the data; varints little-endian base 128 (LEB128) or most significant group first (VLQ); the
  header fields are varint scalars of their own field numbers, the checksum a fixed-width field at the end;
* ``directory``: a file with an image-like header (width, height, bytes per pixel, the pixel data, which must
  be exactly that size), then a table of contents whose entries (kind, offset, size) point into a data area.

They climb the same ladder of stages as the others (:mod:`.cformats`) and take the same faults.
"""

from __future__ import annotations

from airlock.evals.challenges.generators.cfeatures import Parts
from airlock.evals.challenges.generators.cformats import Entry, Format, Record, pack_int
from airlock.evals.challenges.generators.cprogram import MAX_INPUT, c, c_bytes, packbits, xor_stream


class Keyed(Format):
    name = "keyed"
    binary = True
    from_tier = 2

    def __init__(self, parts: Parts, tier: int, handlers: list[str], longest: int, dispatch: str) -> None:
        super().__init__(parts, tier, handlers, longest, dispatch)
        rng = self.rng
        self.magic = bytes(rng.randrange(1, 256) for _ in range(rng.choice((2, 3, 4))))
        self.vlq = rng.random() < 0.35
        self.shift = rng.choice((3, 4))
        wires = rng.sample(range(1 << self.shift), 3)
        self.scalar, self.bytes_wire, self.fixed = wires
        numbers = rng.sample(range(1, 256), len(handlers) + 5)
        for handler, number in zip(handlers, numbers, strict=False):
            self.codes[handler] = number
        self.version_field, self.count_field, self.sum_field, self.open_field, self.close_field = numbers[-5:]
        self.version = rng.randrange(1, 70000)
        self.header_order = rng.sample(("version", "count"), 2)
        self.checksum, self.checksum_fn = self.checksum_choice() if tier >= 3 else (None, "")
        self.checksum_endian = rng.choice(("le", "be"))
        self.encoding = rng.choice(("xor", "packbits"))
        self.xor_key, self.xor_step = rng.randrange(256), rng.choice((1, 3, 5, 7, 11))
        self.token = bytes(rng.randrange(256) for _ in range(4))
        self.encoding_can_fail = self.encoding == "packbits"

    def varint(self, value: int) -> bytes:
        groups = [value & 0x7F]
        value >>= 7
        while value:
            groups.append(value & 0x7F)
            value >>= 7
        if self.vlq:
            groups.reverse()
        return bytes(group | (0x80 if i < len(groups) - 1 else 0) for i, group in enumerate(groups))

    def key(self, field: int, wire: int) -> bytes:
        return self.varint(field << self.shift | wire)

    def pack(self, data: bytes) -> bytes:
        if self.tier < 4:
            return data
        if self.encoding == "xor":
            return xor_stream(data, self.xor_key, self.xor_step)
        return packbits(data)

    def encode(self, records: list[Record], fault: str | None = None) -> bytes:
        items = [(self.codes[handler], self.pack(body)) for handler, body in records]
        if fault == "encoding" and items:
            field, data = items[-1]
            items[-1] = (field, data + bytes([9, 0x42]))
        if self.tier >= 4:
            token = bytes(byte ^ 0x66 for byte in self.token) if fault == "token" else self.token
            opening, closing = (self.open_field, self.pack(token)), (self.close_field, b"")
            items = [*items[:1], opening, *items[1:], closing] if fault == "order" else [opening, *items, closing]
        body = b"".join(self.key(field, self.bytes_wire) + self.varint(len(data)) + data for field, data in items)
        header = b""
        if self.tier >= 2:
            values = {"version": self.version, "count": len(items) + (1 if fault == "length" else 0)}
            fields = {"version": self.version_field, "count": self.count_field}
            for name in self.header_order:
                header += self.key(fields[name], self.scalar) + self.varint(values[name])
        if self.tier >= 3:
            width = self.sum_width
            value = self.sum(body) ^ (1 if fault == "checksum" else 0)
            stored = pack_int(value & ((1 << (8 * width)) - 1), width, self.checksum_endian)
            body += self.key(self.sum_field, self.fixed) + stored
        return self.magic + header + body

    def entry(self) -> Entry:
        p, rng, names = self.parts, self.rng, self.parts.names
        r, st = p.style.reject, p.style.stage
        function = names.one_of("read_message", f"{names.prefix}_decode_stream", "parse_fields", "walk_fields")
        varint = names.one_of("read_varint", "take_varint", f"{names.prefix}_varint", "next_varint")
        magic = names.constant(names.prefix, "stream", "magic")
        mask = (1 << self.shift) - 1
        m = len(self.magic)
        accumulate = "value = value << 7 | (b & 0x7f);" if self.vlq else "value |= (unsigned long)(b & 0x7f) << shift;"
        lines = ['#include "HEADER"', "", f"static const uint8_t {magic}[{m}] = {{{c_bytes(self.magic)}}};"]
        if self.tier >= 4:
            lines += [
                f"static uint8_t unpacked[{MAX_INPUT}];",
                f"static const uint8_t OPEN_TOKEN[4] = {{{c_bytes(self.token)}}};",
            ]
        lines += c(
            """

            /* A varint at *at: 1 and the value, or 0 when it runs past the end or past five groups (35 bits). */
            static int $varint(const uint8_t *in, size_t n, size_t *at, unsigned long *out) {
                unsigned long value = 0;
                int shift = 0;
                for (;;) {
                    if (*at >= n || shift > 28) return 0;
                    uint8_t b = in[(*at)++];
                    $accumulate
                    shift += 7;
                    if (!(b & 0x80)) break;
                }
                *out = value;
                return 1;
            }

            int $function(const uint8_t *in, size_t n) {
                if (n < $m || memcmp(in, $magic, $m) != 0) $reject("bad magic");
                $stage("framing");
                size_t at = $m;
                unsigned long key, size;""",
            varint=varint,
            accumulate=accumulate,
            function=function,
            m=m,
            magic=magic,
            reject=r,
            stage=st,
        )
        if self.tier >= 2:
            lines += c(
                level=1,
                template="""
                    unsigned long version = 0, declared = 0, value;
                    int seen = 0;
                    for (int field = 0; field < 2; field++) {
                        if (!$varint(in, n, &at, &key) || (key & 0x$mask) != $scalar) $reject("missing header field");
                        if (!$varint(in, n, &at, &value)) $reject("missing header field");
                        if ((key >> $shift) == $version_field) {
                            version = value;
                            seen |= 1;
                        } else if ((key >> $shift) == $count_field) {
                            declared = value;
                            seen |= 2;
                        }
                    }
                    if (seen != 3) $reject("missing header field");
                    if (version != $version) $reject("unsupported version");""",
                varint=varint,
                mask=f"{mask:x}",
                scalar=self.scalar,
                shift=self.shift,
                version_field=self.version_field,
                count_field=self.count_field,
                version=self.version,
                reject=r,
            )
        lines += ["    const size_t start = at;", "    size_t end = n, records = 0;"]
        if self.tier >= 3:
            lines += ["    int summed = 0;"]
        lines += [
            "    while (at < n) {",
            *(["        size_t item = at;"] if self.tier >= 3 else []),
            f'        if (!{varint}(in, n, &at, &key)) {r}("truncated record");',
        ]
        if self.tier >= 3:
            width = self.sum_width
            lines += c(
                level=2,
                template="""
                        if ((key & 0x$mask) == $fixed && (key >> $shift) == $sum_field) {
                            if (n - at != $width) $reject("bad checksum");
                            uint32_t stored = $read;
                            if ($checksum(in + start, item - start) != stored) $reject("bad checksum");
                            end = item;
                            summed = 1;
                            break;
                        }""",
                mask=f"{mask:x}",
                fixed=self.fixed,
                shift=self.shift,
                sum_field=self.sum_field,
                width=width,
                read=self.read(width, self.checksum_endian, "in + at"),
                checksum=self.checksum_fn,
                reject=r,
            )
        lines += [
            f'        if ((key & 0x{mask:x}) != {self.bytes_wire}) {r}("unexpected wire type");',
            f'        if (!{varint}(in, n, &at, &size) || size > n - at) {r}("truncated record");',
            "        at += size;",
            "        records++;",
            "    }",
        ]
        if self.tier >= 3:
            lines += [f'    if (!summed) {r}("bad checksum");', f'    {st}("checksum");']
        if self.tier >= 2:
            lines += [f'    if (records != declared) {r}("record count does not match");', f'    {st}("header");']
        if self.tier >= 4:
            lines += ["    int state = 0;"]
        lines += [
            "    for (at = start; at < end;) {",
            f"        {varint}(in, n, &at, &key);",
            f"        {varint}(in, n, &at, &size);",
            "        const uint8_t *data = in + at;",
            "        at += size;",
            f"        int kind = (int)(key >> {self.shift});",
        ]
        if self.tier >= 4:
            lines += self.decoded_session(
                f"0x{self.xor_key:02x}",
                "i",
                f"kind != {self.open_field}",
                f"kind == {self.close_field}",
                "OPEN_TOKEN",
                "fields",
            )
        lines += [f"        {self.dispatch}(kind, data, size);", "    }"]
        if self.tier >= 4:
            lines += [f'    if (state != 2) {r}("stream not closed");']
        lines += ["    return (int)records;", "}"]
        return Entry(function, rng.choice(("fields.c", "message.c", "wire.c", "decode.c")), lines)


class Directory(Format):
    name = "directory"
    binary = True
    from_tier = 2

    def __init__(self, parts: Parts, tier: int, handlers: list[str], longest: int, dispatch: str) -> None:
        super().__init__(parts, tier, handlers, longest, dispatch)
        rng = self.rng
        self.signature = bytes(rng.randrange(0x21, 0x7F) for _ in range(2)) + bytes(
            rng.randrange(256) for _ in range(rng.choice((0, 2)))
        )
        self.endian = rng.choice(("le", "be"))
        self.width_px, self.height_px = rng.randrange(1, 6), rng.randrange(1, 6)
        self.depth = rng.choice((1, 2, 3, 4))
        self.pixels = bytes(rng.randrange(256) for _ in range(self.width_px * self.height_px * self.depth))
        # Either width holds any offset into an input of MAX_INPUT bytes: the width is the file format's style.
        self.offset_width = 2 if rng.random() < 0.6 else 4
        used = rng.sample(range(1, 256), len(handlers) + 2)
        for handler, code in zip(handlers, used, strict=False):
            self.codes[handler] = code
        self.open_code, self.close_code = used[-2:]
        self.version = rng.randrange(1, 256)
        # The header's fields in a drawn order: the dimensions, a version, the entry count and where the table
        # of contents starts (the pixel data lies between the header and it).
        self.fields = ["width", "height", "depth", "version", "entries", "table"]
        rng.shuffle(self.fields)
        self.align = rng.choice((1, 2, 4))
        self.entry_order = rng.choice(
            (("kind", "offset", "size"), ("offset", "size", "kind"), ("size", "offset", "kind"))
        )
        self.checksum, self.checksum_fn = self.checksum_choice() if tier >= 3 else (None, "")
        self.encoding = rng.choice(("xor", "packbits"))
        self.xor_step = rng.choice((1, 3, 5, 7, 13))
        self.token = bytes(rng.randrange(256) for _ in range(4))
        self.encoding_can_fail = self.encoding == "packbits"

    def width(self, field: str) -> int:
        return {"width": 1, "height": 1, "depth": 1, "version": 1, "entries": 2, "table": self.offset_width}[field]

    @property
    def entry_size(self) -> int:
        return 1 + 2 * self.offset_width + (self.sum_width if self.tier >= 3 else 0)

    def pack(self, code: int, data: bytes) -> bytes:
        if self.tier < 4:
            return data
        if self.encoding == "xor":
            return xor_stream(data, code, self.xor_step)
        return packbits(data)

    def encode(self, records: list[Record], fault: str | None = None) -> bytes:
        items = [(self.codes[handler], self.pack(self.codes[handler], body)) for handler, body in records]
        if fault == "encoding" and items:
            code, data = items[-1]
            items[-1] = (code, data + bytes([9, 0x42]))
        if self.tier >= 4:
            token = bytes(byte ^ 0x5C for byte in self.token) if fault == "token" else self.token
            opening, closing = (self.open_code, self.pack(self.open_code, token)), (self.close_code, b"")
            items = [*items[:1], opening, *items[1:], closing] if fault == "order" else [opening, *items, closing]
        header_size = len(self.signature) + sum(self.width(f) for f in self.fields)
        table_at = header_size + len(self.pixels)
        area = bytearray()
        table = b""
        for index, (code, data) in enumerate(items):
            while len(area) % self.align:
                area.append(0)
            values = {"kind": bytes([code])}
            values["offset"] = pack_int(len(area), self.offset_width, self.endian)
            values["size"] = pack_int(len(data), self.offset_width, self.endian)
            table += b"".join(values[name] for name in self.entry_order)
            if self.tier >= 3:
                value = self.sum(data) ^ (1 if fault == "checksum" and index == len(items) - 1 else 0)
                table += pack_int(value & ((1 << (8 * self.sum_width)) - 1), self.sum_width, self.endian)
            area += data
        header = {
            "width": bytes([self.width_px]),
            "height": bytes([self.height_px]),
            "depth": bytes([self.depth]),
            "version": bytes([self.version]),
            "entries": pack_int(len(items) + (1 if fault == "length" else 0), 2, self.endian),
            "table": pack_int(table_at, self.offset_width, self.endian),
        }
        return self.signature + b"".join(header[f] for f in self.fields) + self.pixels + table + bytes(area)

    def entry(self) -> Entry:
        p, rng, names = self.parts, self.rng, self.parts.names
        r, st = p.style.reject, p.style.stage
        function = names.one_of("load_image", f"{names.prefix}_open_file", "read_directory", "map_container")
        signature = names.constant(names.prefix, "file", "signature")
        s = len(self.signature)
        lines = ['#include "HEADER"', "", f"static const uint8_t {signature}[{s}] = {{{c_bytes(self.signature)}}};"]
        if self.tier >= 4:
            lines += [
                f"static uint8_t unpacked[{MAX_INPUT}];",
                f"static const uint8_t FILE_TOKEN[4] = {{{c_bytes(self.token)}}};",
            ]
        header_size = s + sum(self.width(f) for f in self.fields)
        lines += [
            "",
            f"int {function}(const uint8_t *in, size_t n) {{",
            f'    if (n < {header_size} || memcmp(in, {signature}, {s}) != 0) {r}("bad signature");',
            f'    {st}("framing");',
        ]
        at = s
        for field in self.fields:
            width = self.width(field)
            expr = f"in[{at}]" if width == 1 else self.read(width, self.endian, f"in + {at}")
            kind = "unsigned" if width == 1 else "size_t"
            lines += [f"    {kind} {field} = {expr};"]
            at += width
        lines += c(
            level=1,
            template="""
                if (version != $version) $reject("unsupported version");
                if (width == 0 || height == 0 || depth == 0 || depth > 4) $reject("bad dimensions");
                size_t pixels = (size_t)width * height * depth;
                if (table != $header + pixels || table > n) $reject("pixel data does not match");
                if (entries > (n - table) / $entry) $reject("truncated directory");
                const uint8_t *area = in + table + entries * $entry;
                size_t area_len = n - table - entries * $entry;""",
            version=self.version,
            header=header_size,
            entry=self.entry_size,
            reject=r,
        )
        positions: dict[str, int] = {}
        offset = 0
        for name in self.entry_order:
            positions[name] = offset
            offset += 1 if name == "kind" else self.offset_width

        def entry_field(name: str) -> str:
            at_ = f"e + {positions[name]}"
            if name == "kind":
                return f"e[{positions[name]}]"
            return self.read(self.offset_width, self.endian, at_)

        lines += [
            "    size_t expected = 0;",
            "    for (size_t i = 0; i < entries; i++) {",
            f"        const uint8_t *e = in + table + i * {self.entry_size};",
            f"        size_t offset = {entry_field('offset')}, size = {entry_field('size')};",
        ]
        if self.align > 1:
            lines += [f"        expected = (expected + {self.align - 1}) & ~(size_t){self.align - 1};"]
        lines += [
            "        if (offset != expected || offset > area_len || size > area_len - offset)",
            f'            {r}("entry out of bounds");',
        ]
        if self.tier >= 3:
            width = self.sum_width
            lines += [
                f"        uint32_t stored = {self.read(width, self.endian, f'e + {1 + 2 * self.offset_width}')};",
                f'        if ({self.checksum_fn}(area + offset, size) != stored) {r}("bad checksum");',
            ]
        lines += ["        expected = offset + size;", "    }"]
        lines += [f'    if (expected != area_len) {r}("entry count does not match");']
        if self.tier >= 3:
            lines += [f'    {st}("checksum");']
        lines += [f'    {st}("header");']
        if self.tier >= 4:
            lines += ["    int state = 0;"]
        lines += [
            "    for (size_t i = 0; i < entries; i++) {",
            f"        const uint8_t *e = in + table + i * {self.entry_size};",
            f"        size_t size = {entry_field('size')};",
            f"        const uint8_t *data = area + {entry_field('offset')};",
            f"        int kind = {entry_field('kind')};",
        ]
        if self.tier >= 4:
            lines += self.decoded_session(
                "kind", "j", f"kind != {self.open_code}", f"kind == {self.close_code}", "FILE_TOKEN", "entries"
            )
        lines += [f"        {self.dispatch}(kind, data, size);", "    }"]
        if self.tier >= 4:
            lines += [f'    if (state != 2) {r}("directory not closed");']
        lines += ["    return (int)entries;", "}"]
        return Entry(function, rng.choice(("image.c", "container.c", "directory.c", "archive.c")), lines)


LATER_FORMATS: list[type[Format]] = [Keyed, Directory]
