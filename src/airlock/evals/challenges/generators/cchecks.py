"""What a handler checks and decodes before its own work (generator version 4): checks composed from a grammar of
small parts, and bodies carried in an encoding.

Version 3 drew each handler's layers from four kinds written two to four ways each (a sub-operation byte, a nested
length, a check byte, a tag). An attacker who read fourteen instances had seen every one of them, matched them with
regular expressions and evaluated a sub-operation's condition over its 256 values (docs/challenges.md, "A true
handful is enough"). Version 4 gives every handler from tier 2 at least two layers, one of them a *composed check*
built from choices made one by one:

* which header bytes, read as one byte or as two (in either order);
* transformed how (as is, XOR, addition, multiplication by an odd number, rotation, nibble or byte swap);
* compared with what: a constant, a masked bit pattern, another field (sum, difference or XOR), the body's length,
  or a fold of the body's content (its XOR or its sum from a drawn start), so that no field can be found alone;
* written how: inline tests, named locals, or a helper function; failing with a rejection or a quiet status reply.

The other layer may carry the body in an *encoding* that a run of almost any one repeated byte does not satisfy (a
drawn 16-symbol alphabet: only a run of one of its symbols decodes; byte stuffing with a terminator: none does;
blocks each sealed by a check byte: one or two byte values may) or expand it (counted runs),
or be one of version 3's kinds. Every layer has its Python twin (``wrap``), so that every input the generator writes
(reference, variants, tests, controls) is built through the same layers the C peels off.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from airlock.evals.challenges.generators.cfeatures import Feature, Parts, Records, printable
from airlock.evals.challenges.generators.cprogram import MAX_INPUT, c_bytes, c_string, indent

# Version 3's layer kinds (version 4 draws them too, after a composed check) -----------------------------------


@dataclass
class Preamble:
    """One layer a handler peels off its record before the feature's own code sees the body."""

    lines: list[str]
    """C lines placed at the top of the handler (after its head); they may move the data pointer and length."""
    wrap: Callable[[bytes], bytes]
    """The Python twin: a body as the feature sees it -> the body as the record must carry it."""
    definitions: list[str] = field(default_factory=list)
    """File-scope lines the preamble needs, placed before the handler."""


def _advance(rng: random.Random, d: str, n: str, k: int) -> list[str]:
    """C lines that step past ``k`` bytes of the body, written one of a few ways."""
    forms = [[f"{d} += {k};", f"{n} -= {k};"], [f"{n} -= {k};", f"{d} = {d} + {k};"], [f"{d} += {k}, {n} -= {k};"]]
    if k == 1:
        forms += [[f"{d}++;", f"{n}--;"], [f"++{d};", f"--{n};"]]
    return rng.choice(forms)


def _at_least(rng: random.Random, n: str, k: int, reject: str, why: str) -> str:
    """A C line that refuses a body shorter than ``k`` bytes, written one of a few ways."""
    test = rng.choice(
        (f"{n} < {k}", f"{n} <= {k - 1}", f"!({n} >= {k})") if k > 1 else (f"{n} < 1", f"{n} == 0", f"!{n}")
    )
    return f'if ({test}) {reject}("{why}");'


def _selector(parts: Parts, noun: str) -> Preamble:
    """A sub-operation byte: one value leads to the feature, another to a status reply, the rest are refused;
    the accepted value is a literal, a mask, a member of a small table, or the result of a computation."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    form = rng.choice(("literal", "mask", "table", "computed"))
    status = rng.randrange(256)
    definitions: list[str] = []
    if form == "literal":
        accepted = rng.choice([v for v in range(256) if v != status])
        test = f"sub != 0x{accepted:02x}"
        choices = [accepted]
    elif form == "mask":
        mask = rng.choice((0xF0, 0xE0, 0xF8, 0xC0))
        want = rng.randrange(256) & mask
        choices = [v for v in range(256) if v & mask == want and v != status]
        test = f"(sub & 0x{mask:02x}) != 0x{want:02x}"
    elif form == "table":
        table = parts.names.constant(noun, rng.choice(("requests", "verbs", "modes")))
        choices = rng.sample([v for v in range(256) if v != status], rng.randrange(2, 5))
        test = f"memchr({table}, sub, sizeof {table}) == NULL"
        listed = [*choices]
        rng.shuffle(listed)
        definitions = [f"static const uint8_t {table}[{len(listed)}] = {{{c_bytes(bytes(listed))}}};", ""]
    else:
        modulus, rest = rng.choice((5, 7, 11, 13)), 0
        key = rng.randrange(256)
        rest = rng.randrange(modulus)
        choices = [v for v in range(256) if (v ^ key) % modulus == rest and v != status]
        test = f"(sub ^ 0x{key:02x}) % {modulus} != {rest}"
    lines = [
        _at_least(rng, n, 1, r, f"empty {noun} request"),
        f"uint8_t sub = {d}[0];",
        *_advance(rng, d, n, 1),
        f"if (sub == 0x{status:02x}) {{",
        f'    {style.emit_value}("{noun} pending", (unsigned long){n});',
        "    return;",
        "}",
        f'if ({test}) {r}("unknown {noun} request");',
    ]
    pick = rng.choice(choices)
    return Preamble(lines, lambda body: bytes([pick]) + body, definitions)


def _framed(parts: Parts, noun: str, longest: int) -> Preamble:
    """A nested length: the body carries its own length (one or two bytes, either order, counting itself or
    not, exact or with padding allowed after it)."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    width = 2 if longest > 240 or rng.random() < 0.5 else 1
    endian = rng.choice(("le", "be"))
    counts_itself = rng.random() < 0.3
    exact = rng.random() < 0.6
    bias = width if counts_itself else 0
    if width == 1:
        field = f"{d}[0]"
    else:
        first, second = (f"{d}[1]", f"{d}[0]") if endian == "le" else (f"{d}[0]", f"{d}[1]")
        field = f"((size_t){first} << 8 | {second})"
    inner = rng.choice(("inner", "declared_len", "body_len", "span"))
    lines = [_at_least(rng, n, width, r, f"truncated {noun}"), f"size_t {inner} = {field};"]
    if counts_itself:
        lines += [f'if ({inner} < {width}) {r}("bad {noun} length");', f"{inner} -= {width};"]
    relation = "!=" if exact else ">"
    lines += [
        f'if ({inner} {relation} {n} - {width}) {r}("{noun} length does not match");',
        f"{d} += {width};",
        f"{n} = {inner};",
    ]
    padding = b"" if exact else bytes(rng.randrange(256) for _ in range(rng.randrange(0, 3)))

    def wrap(body: bytes) -> bytes:
        size = len(body) + bias
        head = bytes([size]) if width == 1 else size.to_bytes(2, "little" if endian == "le" else "big")
        return head + body + padding

    return Preamble(lines, wrap)


def _sealed(parts: Parts, noun: str) -> Preamble:
    """A check byte after the body: an XOR, a sum or a rotating mix of the bytes before it, from a drawn start."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    start = rng.randrange(256)
    mix = rng.choice(("xor", "sum", "rotate"))
    step = _fold_step(mix, "check", f"{d}[i]")
    lines = [
        _at_least(rng, n, 1, r, f"missing {noun} check byte"),
        f"uint8_t check = 0x{start:02x};",
        rng.choice(
            (
                f"for (size_t i = 0; i + 1 < {n}; i++) {step}",
                f"for (size_t i = 0; i < {n} - 1; i++) {step}",
                f"for (size_t i = {n} - 1; i-- > 0;) {step}"
                if mix == "xor"
                else f"for (size_t i = 0; i + 1 < {n}; i++) {step}",
            )
        ),
        f'if (check != {d}[{n} - 1]) {r}("bad {noun} check byte");',
        f"{n} -= 1;",
    ]

    return Preamble(lines, lambda body: body + bytes([_fold(mix, start, body)]))


def _fold_step(mix: str, check: str, byte: str) -> str:
    """One step of a check byte's fold in C: ``check`` takes in ``byte`` by XOR, sum or a rotating mix."""
    return {
        "xor": f"{check} ^= {byte};",
        "sum": f"{check} = (uint8_t)({check} + {byte});",
        "rotate": f"{check} = (uint8_t)(({check} << 1 | {check} >> 7) ^ {byte});",
    }[mix]


def _fold(mix: str, start: int, data: bytes) -> int:
    """The check byte that :func:`_fold_step`'s loop computes over ``data`` from ``start``."""
    check = start
    for byte in data:
        if mix == "xor":
            check ^= byte
        elif mix == "sum":
            check = (check + byte) & 0xFF
        else:
            check = (((check << 1) | (check >> 7)) & 0xFF) ^ byte
    return check


def _tagged(parts: Parts, noun: str) -> Preamble:
    """A two-byte tag the body must open with, compared byte by byte or as one 16-bit value."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    tag = bytes(rng.randrange(256) for _ in range(2))
    if rng.random() < 0.5:
        test = f"{d}[0] != 0x{tag[0]:02x} || {d}[1] != 0x{tag[1]:02x}"
    else:
        test = f"((unsigned){d}[0] << 8 | {d}[1]) != 0x{int.from_bytes(tag, 'big'):04x}u"
    lines = [f'if ({n} < 2 || {test}) {r}("not a {noun} record");', *_advance(rng, d, n, 2)]
    return Preamble(lines, lambda body: tag + body)


def apply_preambles(parts: Parts, feature: Feature, layers: list[Preamble]) -> None:
    """Put ``layers`` at the top of ``feature``'s handler, the first outermost, and wrap its bodies to match."""
    if not layers:
        return
    head = len(parts.style.handler_head(feature.function))
    signature = parts.style.handler_signature(feature.function) + " {"
    inserted = [line for layer in layers for line in indent(layer.lines)]
    definitions = [line for layer in layers for line in layer.definitions]

    def placed(lines: list[str]) -> list[str]:
        start = lines.index(signature)
        at = start + head
        return [*lines[:start], *definitions, *lines[start:at], *inserted, *lines[at:]]

    feature.broken, feature.fixed = placed(feature.broken), placed(feature.fixed)

    def wrapped(records: Records) -> Records:
        out = []
        for body in records:
            for layer in reversed(layers):
                body = layer.wrap(body)
            out.append(body)
        return out

    feature.triggers = [wrapped(records) for records in feature.triggers]
    feature.normal = [wrapped(records) for records in feature.normal]
    feature.boundary = wrapped(feature.boundary) if feature.boundary is not None else None


# Version 4's composed checks and encodings ----------------------------------------------------------------


@dataclass(frozen=True)
class Transform:
    """A bijection on 8- or 16-bit values, in C and in Python."""

    render: Callable[[str], str]
    forward: Callable[[int], int]
    inverse: Callable[[int], int]


def _transform(rng: random.Random, bits: int) -> Transform:
    mask = (1 << bits) - 1
    cast = "uint8_t" if bits == 8 else "uint16_t"
    kind = rng.choice(("plain", "xor", "add", "multiply", "rotate", "swap"))
    if kind == "plain":
        return Transform(lambda x: x, lambda v: v, lambda v: v)
    if kind == "xor":
        key = rng.randrange(1, mask + 1)
        return Transform(lambda x: f"({x} ^ 0x{key:x}u)", lambda v: v ^ key, lambda v: v ^ key)
    if kind == "add":
        key = rng.randrange(1, mask + 1)
        return Transform(lambda x: f"({cast})({x} + {key}u)", lambda v: (v + key) & mask, lambda v: (v - key) & mask)
    if kind == "multiply":
        factor = rng.randrange(3, mask, 2)
        undo = pow(factor, -1, mask + 1)
        return Transform(
            lambda x: f"({cast})({x} * {factor}u)", lambda v: (v * factor) & mask, lambda v: (v * undo) & mask
        )
    if kind == "rotate":
        r = rng.randrange(1, bits)

        def left(v: int, by: int) -> int:
            return ((v << by) | (v >> (bits - by))) & mask

        return Transform(
            lambda x: f"({cast})({x} << {r} | {x} >> {bits - r})", lambda v: left(v, r), lambda v: left(v, bits - r)
        )
    half = bits // 2
    return Transform(
        lambda x: f"({cast})({x} << {half} | {x} >> {half})",
        lambda v: ((v << half) | (v >> half)) & mask,
        lambda v: ((v << half) | (v >> half)) & mask,
    )


@dataclass
class _Field:
    offset: int
    bits: int
    big: bool
    transform: Transform
    value: int | None = None
    """Drawn once, or None where the body decides it (its length, its content)."""
    local: str = ""

    def read(self, header: str) -> str:
        if self.local:
            return self.local
        if self.bits == 8:
            return f"{header}[{self.offset}]"
        high, low = (self.offset, self.offset + 1) if self.big else (self.offset + 1, self.offset)
        return f"((unsigned){header}[{high}] << 8 | {header}[{low}])"

    def encode(self, value: int) -> bytes:
        return value.to_bytes(self.bits // 8, "big" if self.big else "little")


def _composed(parts: Parts, noun: str) -> Preamble:
    """A header of two to six bytes whose fields are tied by conditions drawn from the grammar above."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    fields: list[_Field] = []
    offset = 0
    for _ in range(rng.choice((2, 2, 3))):
        bits = 16 if rng.random() < 0.35 else 8
        fields.append(_Field(offset, bits, rng.random() < 0.5, _transform(rng, bits)))
        offset += bits // 8
    width = offset
    # Locals at the handler's scope are named after the layer's noun: the feature's own code, written later in the
    # same scope, uses plain words (out, count, check...).
    header = _local(parts, noun, "hdr", "head", "preface", "lead")
    writing = rng.choice(("inline", "locals", "helper"))
    # The header is tested where it lies, before the data pointer moves past it, or through a pointer kept to it
    # after the move; a helper function sees it as its own parameter either way.
    in_place = writing != "helper" and rng.random() < 0.5
    at, length, body_at = (d, f"({n} - {width})", f"({d} + {width})") if in_place else (header, n, d)
    fold_lines: list[str] = []
    conditions: list[str] = []
    bound: dict[int, Callable[[bytes], int]] = {}  # field index -> its value as a function of the body

    # At most one field is tied to the body; the others are drawn, then tied to constants or to each other.
    order = list(range(len(fields)))
    rng.shuffle(order)
    if rng.random() < 0.7:
        index = order.pop()
        tied = fields[index]
        read = tied.transform.render(tied.read(at))
        if tied.bits == 8 and rng.random() < 0.5:
            fold = _local(parts, noun, "fold", "mix", "digest", "tally")
            start, xor = rng.randrange(256), rng.random() < 0.5
            step = f"{fold} ^= {body_at}[i];" if xor else f"{fold} = (uint8_t)({fold} + {body_at}[i]);"
            fold_lines = [f"uint8_t {fold} = 0x{start:02x};", f"for (size_t i = 0; i < {length}; i++) {step}"]
            conditions.append(f"{read} == {fold}")
            bound[index] = _tied_to_content(tied.transform, start, xor)
        else:
            key = rng.randrange(1, 1 << tied.bits)
            cast = "uint8_t" if tied.bits == 8 else "uint16_t"
            added = rng.random() < 0.5
            if added:
                conditions.append(f"{read} == ({cast})({length} + {key}u)")
            else:
                conditions.append(f"{read} == (({length} ^ 0x{key:x}u) & 0x{(1 << tied.bits) - 1:x}u)")
            bound[index] = _tied_to_length(tied.transform, tied.bits, key, added)
    for index in order:
        fields[index].value = rng.randrange(1 << fields[index].bits)
    free = list(order)
    same_width = [(a, b) for a in free for b in free if a < b and fields[a].bits == fields[b].bits]
    paired: set[int] = set()
    if same_width and rng.random() < 0.6:
        a, b = rng.choice(same_width)
        fa, fb = fields[a], fields[b]
        mask = (1 << fa.bits) - 1
        cast = "uint8_t" if fa.bits == 8 else "uint16_t"
        va, vb = fa.transform.forward(fa.value or 0), fb.transform.forward(fb.value or 0)
        op = rng.choice(("+", "^", "-"))
        total = {"+": va + vb, "^": va ^ vb, "-": va - vb}[op] & mask
        left, right = fa.transform.render(fa.read(at)), fb.transform.render(fb.read(at))
        conditions.append(f"({cast})({left} {op} {right}) == 0x{total:x}u")
        paired = {a, b}
    for index in free:
        if index in paired and rng.random() < 0.6:
            continue  # a field tied to another needs no test of its own
        f = fields[index]
        value = f.transform.forward(f.value or 0)
        if rng.random() < 0.5:
            conditions.append(f"{f.transform.render(f.read(at))} == 0x{value:x}u")
        else:
            bits_set = rng.sample(range(f.bits), rng.randrange(f.bits // 2 - 1, f.bits // 2 + 3))
            mask = sum(1 << bit for bit in bits_set)
            conditions.append(f"({f.transform.render(f.read(at))} & 0x{mask:x}u) == 0x{value & mask:x}u")
    rng.shuffle(conditions)

    why = rng.choice((f"bad {noun} header", f"{noun} header rejected", f"unexpected {noun} preface"))
    quiet = rng.random() < 0.3
    failure = [f'{style.emit_value}("{noun} ignored", (unsigned long){n});', "return;"] if quiet else []
    lines = [_at_least(rng, n, width, r, f"short {noun} header")]
    if not in_place:
        lines += [f"const uint8_t *{header} = {d};", *_step_past(parts, width)]
    definitions: list[str] = []
    if writing == "locals":
        for f in fields:
            f.local = _local(parts, noun, "mode", "flags", "ver", "key", "hint", "ctl", "opt", "sel", "gen", "epoch")
        lines += [f"unsigned {f.local} = {_Field(f.offset, f.bits, f.big, f.transform).read(at)};" for f in fields]
        # Rendered again now that the fields have names.
        conditions = [_rename(condition, fields, at) for condition in conditions]
    if writing == "helper":
        helper = parts.names.one_of(
            f"{noun}_header_ok", f"valid_{noun}_head", f"{noun}_accepts", f"check_{noun}_preface"
        )
        body = [*fold_lines, "return " + " &&\n        ".join(f"({c})" for c in conditions) + ";"]
        definitions = [
            f"static int {helper}(const uint8_t *{header}, const uint8_t *{d}, size_t {n}) {{",
            *[f"    {line}" for text in body for line in text.split("\n")],
            "}",
            "",
        ]
        test = f"!{helper}({header}, {d}, {n})"
        lines += _failing([test], failure, r, why)
    else:
        lines += fold_lines
        if rng.random() < 0.5:
            lines += _failing([" || ".join(f"!({c})" for c in conditions)], failure, r, why)
        else:
            for condition in conditions:
                lines += _failing([f"!({condition})"], failure, r, why)
        if in_place:
            lines += _step_past(parts, width)

    def wrap(body: bytes) -> bytes:
        head = b"".join(f.encode(bound[i](body) if i in bound else (f.value or 0)) for i, f in enumerate(fields))
        return head + body

    return Preamble(lines, wrap, definitions)


def _tied_to_length(transform: Transform, bits: int, key: int, added: bool) -> Callable[[bytes], int]:
    mask = (1 << bits) - 1
    return lambda body: transform.inverse(((len(body) + key) if added else (len(body) ^ key)) & mask)


def _tied_to_content(transform: Transform, start: int, xor: bool) -> Callable[[bytes], int]:
    def value(body: bytes) -> int:
        folded = start
        for byte in body:
            folded = folded ^ byte if xor else (folded + byte) & 0xFF
        return transform.inverse(folded)

    return value


def _rename(condition: str, fields: list[_Field], header: str) -> str:
    for f in sorted(fields, key=lambda f: -f.bits):
        plain = _Field(f.offset, f.bits, f.big, f.transform).read(header)
        condition = condition.replace(plain, f.local)
    return condition


def _failing(tests: list[str], quiet: list[str], reject: str, why: str) -> list[str]:
    out: list[str] = []
    for test in tests:
        if quiet:
            out += [f"if ({test}) {{", *[f"    {line}" for line in quiet], "}"]
        else:
            out.append(f'if ({test}) {reject}("{why}");')
    return out


def _step_past(parts: Parts, k: int) -> list[str]:
    """C lines that move the data pointer past ``k`` bytes, in the program's own habit."""
    d, n = parts.style.data, parts.style.length
    forms = [
        [f"{d} += {k};", f"{n} -= {k};"],
        [f"{d} += {k}, {n} -= {k};"],
        [f"{n} -= {k};", f"{d} = {d} + {k};"],
        [f"{d} = {d} + {k};", f"{n} = {n} - {k};"],
        [f"{n} = {n} - {k}, {d} = &{d}[{k}];"],
    ]
    return forms[parts.habit("step past", len(forms))]


def _rebind(parts: Parts, buffer: str, size: str) -> list[str]:
    """C lines that make the decoded ``buffer`` of ``size`` bytes the body, in the program's own habit."""
    d, n = parts.style.data, parts.style.length
    forms = [
        [f"{d} = {buffer};", f"{n} = {size};"],
        [f"{d} = {buffer}, {n} = {size};"],
        [f"{n} = {size};", f"{d} = &{buffer}[0];"],
        [f"{d} = (const uint8_t *){buffer};", f"{n} = (size_t)({size});"],
    ]
    return forms[parts.habit("rebind", len(forms))]


def _local(parts: Parts, noun: str, *words: str) -> str:
    return parts.names.one_of(*(f"{noun}_{word}" for word in words))


def _decoded_buffer(parts: Parts, noun: str) -> tuple[str, list[str]]:
    name = parts.names.one_of(f"{noun}_plain", f"{noun}_decoded", f"{noun}_unpacked", f"{noun}_scratch")
    return name, [f"static uint8_t {name}[{MAX_INPUT}];", ""]


def _alphabet(parts: Parts, noun: str) -> Preamble:
    """Each byte of the body as two symbols of a drawn 16-symbol alphabet (in a drawn nibble order, under a drawn
    XOR key); a symbol outside the alphabet is refused."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    # No "?": two in a row may start a trigraph, which -std=c11 still reads.
    symbols = bytes(rng.sample(sorted(set(printable(rng, 80, avoid=b"?"))), 16))
    table = parts.names.constant(noun, rng.choice(("symbols", "alphabet", "digits")))
    buffer, definitions = _decoded_buffer(parts, noun)
    high_first = rng.random() < 0.5
    key = rng.randrange(256) if rng.random() < 0.6 else 0
    first, second = ("2 * i", "2 * i + 1") if high_first else ("2 * i + 1", "2 * i")
    value = f"(uint8_t)((hi - {table}) << 4 | (lo - {table}))"
    if key:
        value = f"(uint8_t)(((hi - {table}) << 4 | (lo - {table})) ^ 0x{key:02x})"
    if rng.random() < 0.5:
        lines = [
            f'if ({n} % 2 != 0 || {n} / 2 > sizeof {buffer}) {r}("bad {noun} encoding");',
            f"for (size_t i = 0; i < {n} / 2; i++) {{",
            f"    const char *hi = memchr({table}, {d}[{first}], 16);",
            f"    const char *lo = memchr({table}, {d}[{second}], 16);",
            f'    if (hi == NULL || lo == NULL) {r}("bad {noun} symbol");',
            f"    {buffer}[i] = {value};",
            "}",
        ]
        definitions = [f"static const char {table}[] = {c_string(symbols)};", *definitions]
    else:
        # The same decoding through a reverse table (-1 where a byte is no symbol), as a table-driven decoder
        # writes it: the alphabet is then only in the table's entries.
        reverse = [-1] * 256
        for position, symbol in enumerate(symbols):
            reverse[symbol] = position
        rows = [", ".join(str(v) for v in reverse[at : at + 16]) for at in range(0, 256, 16)]
        pair = "(hi << 4 | lo)" if not key else f"((hi << 4 | lo) ^ 0x{key:02x})"
        lines = [
            f'if ({n} & 1 || ({n} >> 1) > sizeof {buffer}) {r}("bad {noun} encoding");',
            f"for (size_t i = 0; i < ({n} >> 1); i++) {{",
            f"    int hi = {table}[{d}[{first}]], lo = {table}[{d}[{second}]];",
            f'    if (hi < 0 || lo < 0) {r}("bad {noun} symbol");',
            f"    {buffer}[i] = (uint8_t){pair};",
            "}",
        ]
        definitions = [
            f"static const int8_t {table}[256] = {{",
            *[f"    {row}," for row in rows],
            "};",
            *definitions,
        ]
    lines += _rebind(parts, buffer, f"{n} / 2")

    def wrap(body: bytes) -> bytes:
        out = bytearray()
        for byte in body:
            v = byte ^ key
            pair = [symbols[v >> 4], symbols[v & 15]]
            out += bytes(pair if high_first else pair[::-1])
        return bytes(out)

    return Preamble(lines, wrap, definitions)


def _stuffed(parts: Parts, noun: str) -> Preamble:
    """Byte stuffing (as SLIP does it): the body ends with a terminator, and the terminator and the escape byte
    inside it are escaped; an unterminated body, a bad escape or bytes after the end are refused."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    end, escape = rng.sample(range(256), 2)
    as_end, as_escape = rng.sample(range(256), 2)
    buffer, definitions = _decoded_buffer(parts, noun)
    got, ended = _local(parts, noun, "got", "out", "used"), _local(parts, noun, "ended", "closed", "done")
    at = _local(parts, noun, "at", "pos", "cursor")
    lines = [
        f"size_t {got} = 0, {at} = 0;",
        f"int {ended} = 0;",
        f"for (; {at} < {n}; {at}++) {{",
        f"    uint8_t c = {d}[{at}];",
        f"    if (c == 0x{end:02x}) {{",
        f"        {ended} = 1;",
        "        break;",
        "    }",
        f"    if (c == 0x{escape:02x}) {{",
        f'        if (++{at} == {n}) {r}("truncated {noun} escape");',
        f"        if ({d}[{at}] == 0x{as_end:02x}) c = 0x{end:02x};",
        f"        else if ({d}[{at}] == 0x{as_escape:02x}) c = 0x{escape:02x};",
        f'        else {r}("bad {noun} escape");',
        "    }",
        f'    if ({got} == sizeof {buffer}) {r}("{noun} too long");',
        f"    {buffer}[{got}++] = c;",
        "}",
        f'if (!{ended} || {at} + 1 != {n}) {r}("{noun} not terminated");',
        *_rebind(parts, buffer, got),
    ]

    def wrap(body: bytes) -> bytes:
        out = bytearray()
        for byte in body:
            if byte == end:
                out += bytes([escape, as_end])
            elif byte == escape:
                out += bytes([escape, as_escape])
            else:
                out.append(byte)
        return bytes(out) + bytes([end])

    return Preamble(lines, wrap, definitions)


def _blocked(parts: Parts, noun: str) -> Preamble:
    """The body in blocks of a drawn size, each followed by its check byte (a fold from a drawn start)."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    size = rng.randrange(3, 9)
    start = rng.randrange(256)
    mix = rng.choice(("xor", "sum", "rotate"))
    buffer, definitions = _decoded_buffer(parts, noun)
    got, take, check = _local(parts, noun, "got", "out", "used"), _local(parts, noun, "take", "chunk", "span"), "check"
    step = _fold_step(mix, check, f"{d}[i]")
    lines = [
        f"size_t {got} = 0;",
        f"while ({n} > 0) {{",
        f"    size_t {take} = {n} > {size + 1} ? {size} : {n} - 1;",
        f'    if ({take} == 0) {r}("empty {noun} block");',
        f"    uint8_t {check} = 0x{start:02x};",
        f'    if ({got} + {take} > sizeof {buffer}) {r}("{noun} too long");',
        f"    for (size_t i = 0; i < {take}; i++) {{",
        f"        {step}",
        f"        {buffer}[{got}++] = {d}[i];",
        "    }",
        f'    if ({d}[{take}] != {check}) {r}("bad {noun} block check");',
        f"    {d} += {take} + 1;",
        f"    {n} -= {take} + 1;",
        "}",
        *_rebind(parts, buffer, got),
    ]

    def wrap(body: bytes) -> bytes:
        out = bytearray()
        for at in range(0, len(body), size):
            block = body[at : at + size]
            out += block + bytes([_fold(mix, start, block)])
        return bytes(out)

    return Preamble(lines, wrap, definitions)


def _runs(parts: Parts, noun: str) -> Preamble:
    """Counted runs (a decompression): pairs of a count (under a drawn XOR key; zero refused) and a byte."""
    rng, style = parts.rng, parts.style
    d, n, r = style.data, style.length, style.reject
    key = rng.randrange(256)
    buffer, definitions = _decoded_buffer(parts, noun)
    got, count = _local(parts, noun, "got", "out", "used"), _local(parts, noun, "count", "repeat", "times")
    lines = [
        f'if ({n} % 2 != 0) {r}("odd {noun} run list");',
        f"size_t {got} = 0;",
        f"for (size_t i = 0; i < {n}; i += 2) {{",
        f"    size_t {count} = (size_t)({d}[i] ^ 0x{key:02x});",
        f'    if ({count} == 0 || {count} > sizeof {buffer} - {got}) {r}("bad {noun} run");',
        f"    memset({buffer} + {got}, {d}[i + 1], {count});",
        f"    {got} += {count};",
        "}",
        *_rebind(parts, buffer, got),
    ]

    def wrap(body: bytes) -> bytes:
        out = bytearray()
        at = 0
        while at < len(body):
            run = 1
            while at + run < len(body) and body[at + run] == body[at] and run < 255:
                run += 1
            out += bytes([run ^ key, body[at]])
            at += run
        return bytes(out)

    return Preamble(lines, wrap, definitions)


ENCODINGS = ("alphabet", "stuffed", "blocked", "runs")
OTHERS = ("composed", "selector", "framed", "sealed", "tagged")


def add_layers(parts: Parts, feature: Feature, tier: int) -> None:
    """Give ``feature`` its layers for ``tier`` (from 2): a composed check, then at tier 2 an encoding (half the
    time) or another check, and from tier 3 one more; at most one encoding, each of version 3's kinds at most once,
    in a drawn order."""
    rng = parts.rng
    noun = parts.names.noun()
    longest = max((len(body) for body in feature.bodies), default=0)
    kinds = ["composed"]
    if rng.random() < 0.5:
        kinds.append(rng.choice(ENCODINGS))
    kinds += rng.sample(OTHERS, 2 - len(kinds) + (0 if tier == 2 else 1))
    rng.shuffle(kinds)
    layers: list[Preamble] = []
    for kind in kinds:
        if kind == "composed":
            layers.append(_composed(parts, noun))
        elif kind == "alphabet":
            layers.append(_alphabet(parts, noun))
        elif kind == "stuffed":
            layers.append(_stuffed(parts, noun))
        elif kind == "blocked":
            layers.append(_blocked(parts, noun))
        elif kind == "runs":
            layers.append(_runs(parts, noun))
        elif kind == "selector":
            layers.append(_selector(parts, noun))
        elif kind == "framed":
            # The body this length counts may be an encoding of the feature's (up to twice as long) behind a
            # composed header (up to six bytes): a bound that keeps a one-byte length field for short bodies only.
            layers.append(_framed(parts, noun, 2 * longest + 64))
        elif kind == "sealed":
            layers.append(_sealed(parts, noun))
        else:
            layers.append(_tagged(parts, noun))
    apply_preambles(parts, feature, layers)
