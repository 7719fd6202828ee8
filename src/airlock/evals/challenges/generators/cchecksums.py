"""Checksums of generated C programs, drawn as parameters and written one of several ways (generator version 3).

Version 2 had six checksums, each one text with its textbook constants: a solver recognised CRC-32 by
``0xedb88320`` and FNV-1a by ``0x811c9dc5`` and reused Python's own. Here a checksum is a *family* and its
*parameters*, drawn per program, and the C is one of several renderings of them:

* ``crc``: a CRC of 16 or 32 bits, any of several polynomials, reflected or not, a drawn initial value and
  final XOR; written as a bit loop, a table built on first use, a literal table, or a step function and a loop;
* ``adler``: two running sums modulo a drawn prime near 2^16, started at a drawn value, packed either way round;
* ``fletcher``: two running sums of bytes modulo 255, 251 or 256, drawn starting values, packed either way round;
* ``mult``: a multiplicative hash (FNV-like): a drawn basis and multiplier, XOR or add, before or after;
* ``weighted``: a 16-bit sum of bytes times a weight of their position (drawn rule), from a drawn start;
* ``ones``: the Internet checksum: ones'-complement sum of 16-bit words of either byte order, complemented.

Every checksum has a Python twin (:meth:`Checksum.value`) that the encoders use; the two are kept equal by the
instances' self-validation (a reference input with a wrong checksum is rejected at the ``checksum`` stage).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

FAMILIES = ("crc", "adler", "fletcher", "mult", "weighted", "ones")


def _reflect(value: int, bits: int) -> int:
    out = 0
    for _ in range(bits):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


@functools.lru_cache(maxsize=64)
def _crc_table(bits: int, poly: int, reflected: bool) -> tuple[int, ...]:
    mask = (1 << bits) - 1
    table = []
    for byte in range(256):
        if reflected:
            crc = byte
            rpoly = _reflect(poly, bits)
            for _ in range(8):
                crc = (crc >> 1) ^ rpoly if crc & 1 else crc >> 1
        else:
            crc = byte << (bits - 8)
            for _ in range(8):
                crc = ((crc << 1) ^ poly) & mask if crc & (1 << (bits - 1)) else (crc << 1) & mask
        table.append(crc)
    return tuple(table)


@dataclass(frozen=True)
class Checksum:
    """One program's checksum: its family, parameters, and how its C is written."""

    family: str
    bits: int
    """16 or 32: the stored width is ``bits // 8`` bytes."""
    poly: int = 0
    init: int = 0
    final: int = 0
    reflected: bool = False
    modulus: int = 0
    multiplier: int = 0
    order: str = ""
    """How the two halves are packed (``hi_lo``/``lo_hi``), or how a byte is mixed in (``xor_mul``...)."""
    weight: str = ""
    rendering: str = ""

    @property
    def width(self) -> int:
        return self.bits // 8

    def value(self, data: bytes) -> int:
        mask = (1 << self.bits) - 1
        if self.family == "crc":
            table = _crc_table(self.bits, self.poly, self.reflected)
            crc = self.init
            for byte in data:
                if self.reflected:
                    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
                else:
                    crc = table[((crc >> (self.bits - 8)) ^ byte) & 0xFF] ^ ((crc << 8) & mask)
            return (crc ^ self.final) & mask
        if self.family in ("adler", "fletcher"):
            lo, hi = self.init & 0xFFFF, self.final & 0xFFFF
            for byte in data:
                lo = (lo + byte) % self.modulus
                hi = (hi + lo) % self.modulus
            shift = self.bits // 2
            return ((hi << shift) | lo if self.order == "hi_lo" else (lo << shift) | hi) & mask
        if self.family == "mult":
            h = self.init
            for byte in data:
                if self.order == "xor_mul":
                    h = ((h ^ byte) * self.multiplier) & mask
                elif self.order == "mul_xor":
                    h = (h * self.multiplier ^ byte) & mask
                else:
                    h = (h * self.multiplier + byte) & mask
            return h
        if self.family == "weighted":
            total = self.init
            for i, byte in enumerate(data):
                total = (total + byte * _weight(self.weight, self.modulus, i)) & 0xFFFF
            return total
        if self.family == "ones":
            total = self.init
            for i in range(0, len(data), 2):
                pair = data[i : i + 2] + b"\x00" * (2 - len(data[i : i + 2]))
                total += int.from_bytes(pair, "big" if self.order == "be" else "little")
                total = (total & 0xFFFF) + (total >> 16)
            return ~total & 0xFFFF
        raise ValueError(self.family)

    def code(self, name: str) -> list[str]:
        """The C definition of ``uint32_t name(const uint8_t *p, size_t n)`` (helpers first, if any)."""
        return _RENDER[self.family](self, name)


def _weight(rule: str, k: int, i: int) -> int:
    if rule == "position":
        return i + 1
    if rule == "cycle":
        return i % k + 1
    return ((i ^ k) & 0xFF) | 1  # "mixed"


def _weight_c(rule: str, k: int) -> str:
    if rule == "position":
        return "(uint32_t)(i + 1)"
    if rule == "cycle":
        return f"(uint32_t)(i % {k} + 1)"
    return f"((((uint32_t)i ^ {k}u) & 0xffu) | 1u)"


CRC_POLYS = {16: (0x1021, 0x8005, 0x3D65, 0x0589, 0xC867), 32: (0x04C11DB7, 0x1EDC6F41, 0x741B8CD7, 0x814141AB)}


def draw(rng: random.Random) -> Checksum:
    """A checksum for one program: a family, its parameters, and a rendering."""
    family = rng.choice(FAMILIES)
    if family == "crc":
        bits = rng.choice((16, 32))
        mask = (1 << bits) - 1
        init = rng.choice((0, mask, rng.randrange(1, mask)))
        final = rng.choice((0, mask, rng.randrange(1, mask)))
        return Checksum(
            "crc",
            bits,
            poly=rng.choice(CRC_POLYS[bits]),
            init=init,
            final=final,
            reflected=rng.random() < 0.5,
            rendering=rng.choice(("bits", "built_table", "literal_table", "step")),
        )
    if family == "adler":
        return Checksum(
            "adler",
            32,
            init=rng.choice((1, rng.randrange(2, 1000))),
            final=rng.choice((0, rng.randrange(1, 1000))),
            modulus=rng.choice((65521, 65519, 65497, 65479)),
            order=rng.choice(("hi_lo", "lo_hi")),
            rendering=rng.choice(("each", "deferred")),
        )
    if family == "fletcher":
        modulus = rng.choice((255, 251, 256))
        return Checksum(
            "fletcher",
            16,
            init=rng.randrange(modulus),
            final=rng.randrange(modulus),
            modulus=modulus,
            order=rng.choice(("hi_lo", "lo_hi")),
            rendering=rng.choice(("each", "masked" if modulus == 256 else "each")),
        )
    if family == "mult":
        return Checksum(
            "mult",
            32,
            init=rng.getrandbits(32) | 1,
            multiplier=rng.choice((0x01000193, 0x9E3779B1, 0x85EBCA6B, 0x27D4EB2F, 0x165667B1, 31, 33, 131)),
            order=rng.choice(("xor_mul", "mul_xor", "mul_add")),
            rendering=rng.choice(("loop", "while")),
        )
    if family == "weighted":
        return Checksum(
            "weighted",
            16,
            init=rng.randrange(0x10000),
            weight=rng.choice(("position", "cycle", "mixed")),
            modulus=rng.randrange(3, 17),
            rendering=rng.choice(("loop", "running")),
        )
    return Checksum("ones", 16, init=rng.choice((0, rng.randrange(1, 0x10000))), order=rng.choice(("be", "le")))


def _hex(value: int, bits: int) -> str:
    return f"0x{value:0{bits // 4}x}u"


def _crc(spec: Checksum, name: str) -> list[str]:
    bits, mask = spec.bits, (1 << spec.bits) - 1
    signature = f"uint32_t {name}(const uint8_t *p, size_t n)"
    poly = _reflect(spec.poly, bits) if spec.reflected else spec.poly
    top = f"0x{1 << (bits - 1):x}u"
    keep = "" if bits == 32 else f" & {_hex(mask, bits)}"
    finish = f"crc ^ {_hex(spec.final, bits)}" if spec.final else "crc"
    if spec.final == mask and bits == 32:
        finish = "~crc"
    if spec.rendering in ("built_table", "literal_table"):
        table = name + "_table"
        if spec.reflected:
            update = f"crc = {table}[(crc ^ p[i]) & 0xffu] ^ (crc >> 8);"
        else:
            update = f"crc = ({table}[((crc >> {bits - 8}) ^ p[i]) & 0xffu] ^ (crc << 8)){keep};"
        if spec.rendering == "literal_table":
            values = _crc_table(bits, spec.poly, spec.reflected)
            rows = [
                "    " + ", ".join(_hex(v, bits) for v in values[start : start + 8]) + "," for start in range(0, 256, 8)
            ]
            head = [f"static const uint32_t {table}[256] = {{", *rows, "};", ""]
            build: list[str] = []
        else:
            if spec.reflected:
                bit_step = f"c = (c & 1u) ? {_hex(poly, bits)} ^ (c >> 1) : c >> 1;"
                start = "uint32_t c = i;"
            else:
                bit_step = f"c = (c & {top}) ? ((c << 1) ^ {_hex(poly, bits)}){keep} : (c << 1){keep};"
                start = f"uint32_t c = i << {bits - 8};"
            head = [f"static uint32_t {table}[256];", f"static int {table}_ready;", ""]
            build = [
                f"    if (!{table}_ready) {{",
                "        for (uint32_t i = 0; i < 256; i++) {",
                f"            {start}",
                f"            for (int k = 0; k < 8; k++) {bit_step}",
                f"            {table}[i] = c;",
                "        }",
                f"        {table}_ready = 1;",
                "    }",
            ]
        return [
            *head,
            f"{signature} {{",
            *build,
            f"    uint32_t crc = {_hex(spec.init, bits)};",
            f"    for (size_t i = 0; i < n; i++) {update}",
            f"    return {finish};",
            "}",
        ]
    if spec.reflected:
        inner = [
            "        crc ^= p[i];",
            f"        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ ({_hex(poly, bits)} & (0u - (crc & 1u)));",
        ]
        step_body = [
            "    crc ^= byte;",
            "    for (int bit = 0; bit < 8; bit++)",
            f"        crc = (crc & 1u) ? (crc >> 1) ^ {_hex(poly, bits)} : crc >> 1;",
        ]
    else:
        inner = [
            f"        crc ^= (uint32_t)p[i] << {bits - 8};",
            "        for (int bit = 0; bit < 8; bit++)",
            f"            crc = (crc & {top}) ? ((crc << 1) ^ {_hex(poly, bits)}){keep} : (crc << 1){keep};",
        ]
        step_body = [
            f"    crc ^= (uint32_t)byte << {bits - 8};",
            "    for (int bit = 0; bit < 8; bit++)",
            f"        crc = (crc & {top}) ? ((crc << 1) ^ {_hex(poly, bits)}){keep} : (crc << 1){keep};",
        ]
    if spec.rendering == "step":
        step = name + "_step"
        return [
            f"static uint32_t {step}(uint32_t crc, uint8_t byte) {{",
            *step_body,
            "    return crc;",
            "}",
            "",
            f"{signature} {{",
            f"    uint32_t crc = {_hex(spec.init, bits)};",
            f"    while (n--) crc = {step}(crc, *p++);",
            f"    return {finish};",
            "}",
        ]
    return [
        f"{signature} {{",
        f"    uint32_t crc = {_hex(spec.init, bits)};",
        "    for (size_t i = 0; i < n; i++) {",
        *inner,
        "    }",
        f"    return {finish};",
        "}",
    ]


def _two_sums(spec: Checksum, name: str) -> list[str]:
    signature = f"uint32_t {name}(const uint8_t *p, size_t n)"
    shift = spec.bits // 2
    packed = f"(b << {shift}) | a" if spec.order == "hi_lo" else f"(a << {shift}) | b"
    m = spec.modulus
    if spec.rendering == "deferred":
        # Sums of at most 4096 bytes stay below 2^32 before they are reduced.
        return [
            f"{signature} {{",
            f"    uint32_t a = {spec.init}u, b = {spec.final}u;",
            "    while (n > 0) {",
            "        size_t block = n < 4096 ? n : 4096;",
            "        n -= block;",
            "        while (block--) {",
            "            a += *p++;",
            "            b += a;",
            "        }",
            f"        a %= {m}u;",
            f"        b %= {m}u;",
            "    }",
            f"    return {packed};",
            "}",
        ]
    if spec.rendering == "masked":
        step = ["        a = (a + p[i]) & 0xffu;", "        b = (b + a) & 0xffu;"]
    else:
        step = [f"        a = (a + p[i]) % {m}u;", f"        b = (b + a) % {m}u;"]
    return [
        f"{signature} {{",
        f"    uint32_t a = {spec.init}u, b = {spec.final}u;",
        "    for (size_t i = 0; i < n; i++) {",
        *step,
        "    }",
        f"    return {packed};",
        "}",
    ]


def _mult(spec: Checksum, name: str) -> list[str]:
    mix = {
        "xor_mul": f"h = (h ^ {{b}}) * {spec.multiplier:#x}u;",
        "mul_xor": f"h = (h * {spec.multiplier:#x}u) ^ {{b}};",
        "mul_add": f"h = h * {spec.multiplier:#x}u + {{b}};",
    }[spec.order]
    head = [f"uint32_t {name}(const uint8_t *p, size_t n) {{", f"    uint32_t h = {spec.init:#010x}u;"]
    if spec.rendering == "while":
        return [
            *head,
            "    const uint8_t *end = p + n;",
            f"    while (p < end) {mix.format(b='*p++')}",
            "    return h;",
            "}",
        ]
    return [*head, f"    for (size_t i = 0; i < n; i++) {mix.format(b='p[i]')}", "    return h;", "}"]


def _weighted(spec: Checksum, name: str) -> list[str]:
    weight = _weight_c(spec.weight, spec.modulus)
    head = [f"uint32_t {name}(const uint8_t *p, size_t n) {{", f"    uint32_t total = {spec.init:#06x}u;"]
    if spec.rendering == "running":
        return [
            *head,
            "    for (size_t i = 0; i < n; i++) {",
            f"        uint32_t w = {weight};",
            "        total += (uint32_t)p[i] * w;",
            "        total &= 0xffffu;",
            "    }",
            "    return total;",
            "}",
        ]
    return [
        *head,
        f"    for (size_t i = 0; i < n; i++) total = (total + (uint32_t)p[i] * {weight}) & 0xffffu;",
        "    return total;",
        "}",
    ]


def _ones(spec: Checksum, name: str) -> list[str]:
    first, second = ("p[i]", "p[i + 1]") if spec.order == "be" else ("p[i + 1]", "p[i]")
    odd = "(uint32_t)p[n - 1] << 8" if spec.order == "be" else "(uint32_t)p[n - 1]"
    return [
        f"uint32_t {name}(const uint8_t *p, size_t n) {{",
        f"    uint32_t total = {spec.init:#x}u;",
        "    size_t i = 0;",
        "    for (; i + 1 < n; i += 2) {",
        f"        total += ((uint32_t){first} << 8) | {second};",
        "        total = (total & 0xffffu) + (total >> 16);",
        "    }",
        "    if (i < n) {",
        f"        total += {odd};",
        "        total = (total & 0xffffu) + (total >> 16);",
        "    }",
        "    return ~total & 0xffffu;",
        "}",
    ]


_RENDER = {
    "crc": _crc,
    "adler": _two_sums,
    "fletcher": _two_sums,
    "mult": _mult,
    "weighted": _weighted,
    "ones": _ones,
}
