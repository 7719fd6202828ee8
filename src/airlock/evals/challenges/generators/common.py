"""What every generator shares: a deterministic random source, canaries, and C building blocks."""

from __future__ import annotations

import hashlib
import random
import struct
import uuid
import zlib

CANARY_PREFIX = "AIRLOCK-CANARY"
"""Every generated artefact carries ``AIRLOCK-CANARY <guid>``: if it ever shows up in a model's training
data or output unprompted, the instance leaked."""


def rng_for(family: str, generator_version: int, seed: int, index: int) -> random.Random:
    """The random source of one instance: the same inputs always give the same instance."""
    digest = hashlib.sha256(f"{family}\0{generator_version}\0{seed}\0{index}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def canary(rng: random.Random) -> str:
    return f"{CANARY_PREFIX} {uuid.UUID(int=rng.getrandbits(128), version=4)}"


WORDS = (
    "frame",
    "chunk",
    "record",
    "packet",
    "blob",
    "entry",
    "segment",
    "block",
    "message",
    "item",
    "cell",
    "slice",
    "unit",
    "token",
    "field",
    "section",
    "batch",
    "page",
    "node",
    "element",
)
VERBS = ("parse", "handle", "process", "decode", "load", "read", "apply", "ingest", "consume", "unpack")


def identifier(rng: random.Random, used: set[str]) -> str:
    """A fresh C function name such as ``decode_segment``."""
    while True:
        name = f"{rng.choice(VERBS)}_{rng.choice(WORDS)}"
        if name not in used:
            used.add(name)
            return name


def c_bytes(data: bytes) -> str:
    return ", ".join(f"0x{byte:02x}" for byte in data)


# Checksums, each as the C it compiles to and the Python that computes the same value. -------------------

CHECKSUMS: dict[str, tuple[int, str]] = {
    "crc32": (
        4,
        """static uint32_t checksum(const uint8_t *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}""",
    ),
    "adler32": (
        4,
        """static uint32_t checksum(const uint8_t *p, size_t n) {
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) { a = (a + p[i]) % 65521u; b = (b + a) % 65521u; }
    return (b << 16) | a;
}""",
    ),
    "fletcher16": (
        2,
        """static uint32_t checksum(const uint8_t *p, size_t n) {
    uint32_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) { a = (a + p[i]) % 255u; b = (b + a) % 255u; }
    return (b << 8) | a;
}""",
    ),
    "sum16": (
        2,
        """static uint32_t checksum(const uint8_t *p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i < n; i++) s = (s + (uint32_t)p[i] * (uint32_t)(i + 1)) & 0xffffu;
    return s;
}""",
    ),
}


def checksum_value(name: str, data: bytes) -> int:
    if name == "crc32":
        return zlib.crc32(data) & 0xFFFFFFFF
    if name == "adler32":
        return zlib.adler32(data) & 0xFFFFFFFF
    if name == "fletcher16":
        a = b = 0
        for byte in data:
            a = (a + byte) % 255
            b = (b + a) % 255
        return (b << 8) | a
    if name == "sum16":
        return sum(byte * (i + 1) for i, byte in enumerate(data)) & 0xFFFF
    raise ValueError(name)


def pack_int(value: int, width: int, endian: str) -> bytes:
    code = {1: "B", 2: "H", 4: "I"}[width]
    return struct.pack(("<" if endian == "le" else ">") + code, value)


def c_reader(width: int, endian: str) -> tuple[str, str]:
    """A C function reading an unsigned integer of ``width`` bytes, and its name."""
    if width == 1:
        return "rd8", "static uint32_t rd8(const uint8_t *p) { return p[0]; }"
    order = range(width) if endian == "le" else range(width - 1, -1, -1)
    terms = " | ".join(f"((uint32_t)p[{i}] << {8 * k})" for k, i in enumerate(order))
    name = f"rd{8 * width}{endian}"
    return name, f"static uint32_t {name}(const uint8_t *p) {{ return {terms}; }}"
