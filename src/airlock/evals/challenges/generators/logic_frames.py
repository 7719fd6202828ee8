"""How a logic-constraint program frames its request, and the request kinds besides the one that matters.

A request names its kind and carries one field per constraint layer. Four framings, each written out for
the instance:

=============  ============================================================================================
``binary``     an optional magic value, a kind byte, an optional length field, then the fields back to back
``sections``   a kind byte and a section count, then one tagged, sized section per field
``hexlines``   a text protocol: a verb line, then each field in hexadecimal, one a line or all on one line
``keyvalue``   a configuration: ``key=value`` lines, the first naming the action, the rest the fields in hex
=============  ============================================================================================

The fields' order in the request is drawn apart from the order the layers check them. Every framing is
strict (exact sizes, nothing after the last field), so the only freedom an input has is the field values.
The other kinds: one echoes its body (the forged-marker decoy), one fires an assertion, one waits forever,
and zero to two do ordinary work (a count, a version, a tally).

Hexadecimal text is decoded leniently, by arithmetic, with no check per character (only the exact lengths
are checked): a check per digit made the solver baseline's constraint solver run out of memory on tier 1
(measured), which would put the program out of that baseline's reach for reasons that have nothing to do
with its constraints. Every byte of every field is still tied by a constraint.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from airlock.evals.challenges.generators.cprogram import Names, Style, c_bytes, c_string
from airlock.evals.challenges.generators.logic_layers import Layer, Verdicts

KINDS = ("main", "echo", "assertion", "spin")
BENIGN = ("count", "version", "calls")


@dataclass
class Handler:
    """A request kind other than the main one, and the function that serves it."""

    role: str
    function: str
    lines: list[str]


def handlers(rng: random.Random, names: Names, style: Style) -> list[Handler]:
    """The echo, assertion and endless-loop decoys, and zero to two ordinary kinds, in a drawn order; each
    called in the program's convention (:meth:`Style.handler_signature`)."""
    p, n = style.data, style.length
    made = []
    echo = names.function(("echo", "log", "print", "show"), rng.choice(("note", "comment", "message", "remark")))
    echo_body = rng.choice(
        (
            ['    fputs("note: ", stdout);', f"    fwrite({p}, 1, {n}, stdout);", "    fputc('\\n', stdout);"],
            [f'    printf("%.*s\\n", (int){n}, (const char *){p});'],
            [f'    fprintf(stdout, "[{names.prefix}] ");', f"    fwrite({p}, 1, {n}, stdout);", '    puts("");'],
        )
    )
    made.append(Handler("echo", echo, [*style.handler_head(echo), *echo_body, "}"]))
    legacy = names.function(("legacy", "compat", "old"), rng.choice(("request", "query", "probe")))
    assertion = rng.choice(
        (
            [f'    assert(({p} == NULL || {n} == 0) && "legacy requests carry no body");'],
            [f"    size_t extra = {p} != NULL ? {n} : 0;", "    assert(extra == 0);"],
            [f'    assert(!{n} && "this kind was retired");', f"    (void){p};"],
        )
    )
    made.append(Handler("assertion", legacy, [*style.handler_head(legacy), *assertion, "}"]))
    wait = names.function(("wait", "await", "poll"), rng.choice(("peer", "ack", "reply", "lock")))
    spin = rng.choice(
        (
            [f"    while ({n} > 0 && {p} != NULL) {{", "        /* waits for a peer that never answers */", "    }"],
            ["    volatile int answered = 0;", f"    while ({n} != 0 && !answered) {{", "    }", f"    (void){p};"],
            ["    for (;;) {", f"        if ({n} == 0 || {p} == NULL) break;", "    }"],
        )
    )
    made.append(Handler("spin", wait, [*style.handler_head(wait), *spin, "}"]))
    for role in rng.sample(BENIGN, rng.randrange(0, 3)):
        noun = {"count": "size", "version": "info", "calls": "stats"}[role]
        name = names.function(("report", "handle", "serve"), noun)
        # Ordinary work that computes nothing from the body's bytes: a digest of them, printed, would make
        # the solver baseline's constraint solver evaluate a chain of multiplications on a path that leads
        # nowhere (measured: it then never got to the target).
        if role == "count":
            body = [f'    {style.emit_value}("bytes", (unsigned long){n});', f"    (void){p};"]
        elif role == "calls":
            body = [
                "    static unsigned long served;",
                f"    served += {p} != NULL;",
                f'    {style.emit_value}("served", served);',
                f"    (void){n};",
            ]
        else:
            body = [f'    {style.emit_value}("version", {rng.randrange(2, 40)}ul + ({p} != NULL ? 0 : {n}));']
        made.append(Handler(role, name, [*style.handler_head(name), *body, "}"]))
    rng.shuffle(made)
    return made


def call_handler(style: Style, handler: str, body: str, length: str, code: str) -> list[str]:
    """The lines calling ``handler`` on a body in the program's convention (a context kept by the caller,
    or a record of the kind ``code``)."""
    if style.convention == "context":
        return [f"        static struct {style.context_type} shared;", f"        {handler}(&shared, {body}, {length});"]
    if style.convention == "record":
        return [
            f"        struct {style.record_type} one = {{{code}, {body}, {length}}};",
            f"        {handler}(&one);",
        ]
    return [f"        {handler}({body}, {length});"]


@dataclass
class Framing:
    name: str
    file: str
    entry: str
    lines: list[str]
    """The file's definitions (its include line is added by the layout)."""
    prototypes: list[str]
    header: list[str] = field(default_factory=list)
    """Definitions the header holds (kind codes)."""
    kinds: dict[str, bytes] = field(default_factory=dict)
    """Role -> what the request starts with to have that kind (magic, kind byte, verb line...)."""
    layout: list[int] = field(default_factory=list)
    """The layers' indices in the order their fields travel in the request."""
    encode_main: Callable[[list[bytes]], bytes] | None = None
    encode_other: Callable[[str, bytes], bytes] | None = None

    def request(self, fields: list[bytes]) -> bytes:
        """The main kind's request carrying ``fields`` (one per layer, in the layers' checking order)."""
        assert self.encode_main is not None
        return self.encode_main(fields)

    def other(self, role: str, payload: bytes) -> bytes:
        """A request of another kind, carrying ``payload`` as its body."""
        assert self.encode_other is not None
        return self.encode_other(role, payload)


def check_site(
    rng: random.Random,
    names: Names,
    style: Style,
    layers: list[Layer],
    fields: list[str],
    target: str,
    verdicts: Verdicts,
) -> list[str]:
    """The lines (one level deep) that run each layer on its field in turn, then reach the target."""
    if rng.random() < 0.5:
        lines = []
        for layer, place in zip(layers, fields, strict=True):
            fails = verdicts.fails(f"{layer.function}({place})", rng)
            if rng.random() < 0.5:
                lines += [f'    if ({fails}) {style.reject}("{layer.stage} constraints not met");']
            else:
                lines += [f"    if ({fails})", f'        {style.reject}("{layer.stage} constraints not met");']
            lines.append(f'    {style.stage}("{layer.stage}");')
        return [*lines, f"    {target}();", "    return 1;"]
    # A table of checks, walked in order.
    step = names.take(f"{names.noun()}_check")
    at = rng.choice(("where", "places", "slots"))
    why = {
        "plain": "step->why",
        "coded": f"{rng.randrange(30, 60)} + (int)i, step->why",
        "located": "__func__, step->why",
    }[style.reject_form]
    staged = {
        "plain": "step->name",
        "numbered": f"{rng.randrange(3, 9)} + (int)i, step->name",
        "levelled": "step->name, 2",
    }[style.stage_form]
    rows = [
        f'        {{{layer.function}, {index}, "{layer.stage}", "{layer.stage} constraints not met"}},'
        for index, layer in enumerate(layers)
    ]
    return [
        f"    const uint8_t *{at}[{len(fields)}] = {{{', '.join(fields)}}};",
        f"    static const struct {step} {{",
        f"        {verdicts.type} (*check)({verdicts.pointer});",
        "        size_t field;",
        "        const char *name, *why;",
        f"    }} steps[{len(layers)}] = {{",
        *rows,
        "    };",
        f"    for (size_t i = 0; i < {len(layers)}; i++) {{",
        f"        const struct {step} *step = &steps[i];",
        f"        if ({verdicts.fails(f'step->check({at}[step->field])', rng)}) {style.reject}({why});",
        f"        {style.stage}({staged});",
        "    }",
        f"    {target}();",
        "    return 1;",
    ]


def _dispatch_binary(
    rng: random.Random,
    style: Style,
    kind: str,
    codes: dict[str, str],
    handlers: list[Handler],
    body: str,
    length: str,
) -> list[str]:
    """Dispatch on the kind byte: every other kind served and returned from, the main kind going on."""
    order = list(handlers)
    rng.shuffle(order)
    early = rng.random() < 0.5
    """Return right after each other kind is served, or once after the dispatch."""
    if rng.random() < 0.5:
        lines = [f"    switch ({kind}) {{"]
        for handler in order:
            lines += [f"    case {codes[handler.role]}: {{"]
            lines += call_handler(style, handler.function, body, length, codes[handler.role])
            lines += ["        return 0;" if early else "        break;", "    }"]
        lines += [f"    case {codes['main']}:", "        break;", "    default:"]
        lines += [f'        {style.reject}("unknown request kind");', "    }"]
    else:
        lines = []
        for index, handler in enumerate(order):
            keyword = "if" if index == 0 else "} else if"
            lines += [f"    {keyword} ({kind} == {codes[handler.role]}) {{"]
            lines += call_handler(style, handler.function, body, length, codes[handler.role])
            lines += ["        return 0;"] if early else []
        lines += [f"    }} else if ({kind} != {codes['main']}) {{", f'        {style.reject}("unknown request kind");']
        lines += ["    }"]
    if not early:
        lines += [f"    if ({kind} != {codes['main']}) return 0;"]
    return lines


def _kind_codes(
    rng: random.Random, names: Names, style: Style, roles: list[str]
) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Kind byte per role, how the program writes each, and the header lines defining them."""
    values = dict(zip(roles, rng.sample(range(1, 256), len(roles)), strict=True))
    if style.codes == "literal":
        return values, {role: f"0x{value:02x}" for role, value in values.items()}, []
    spelled = {role: names.constant(names.prefix, "req", role) for role in roles}
    if style.codes == "define":
        header = [f"#define {spelled[role]} 0x{values[role]:02x}" for role in roles]
    else:
        header = ["enum {", *(f"    {spelled[role]} = 0x{values[role]:02x}," for role in roles), "};"]
    return values, spelled, [*header, ""]


def binary(
    rng: random.Random,
    names: Names,
    style: Style,
    layers: list[Layer],
    handlers: list[Handler],
    target: str,
    verdicts: Verdicts,
) -> Framing:
    roles = ["main", *(h.role for h in handlers)]
    values, codes, header = _kind_codes(rng, names, style, roles)
    magic = rng.choice((b"", bytes(rng.randrange(256) for _ in range(2)), names.prefix.upper().encode()[:4]))
    length_width = rng.choice((0, 1, 2))
    length_endian = rng.choice(("le", "be"))
    layout = list(range(len(layers)))
    rng.shuffle(layout)
    sizes = [len(layer.data) for layer in layers]
    offsets: dict[int, int] = {}
    at = 0
    for index in layout:
        offsets[index] = at
        at += sizes[index]
    total = at
    head = len(magic) + 1 + length_width
    entry = names.function(("handle", "process", "serve", "accept"), rng.choice(("request", "frame", "packet")))
    inp, n = rng.choice((("in", "n"), ("req", "len"), ("msg", "size")))
    body, blen = rng.choice((("body", "body_len"), ("payload", "left"), ("data", "count")))
    lines = [
        f"int {entry}(const uint8_t *{inp}, size_t {n}) {{",
        f'    if ({n} < {head}) {style.reject}("short request");',
    ]
    if magic:
        if rng.random() < 0.5:
            magic_name = names.constant(names.prefix, "magic")
            lines[0:0] = [f"static const uint8_t {magic_name}[{len(magic)}] = {{{c_bytes(magic)}}};", ""]
            lines.append(f'    if (memcmp({inp}, {magic_name}, {len(magic)}) != 0) {style.reject}("bad magic");')
        else:
            tests = " || ".join(f"{inp}[{i}] != 0x{byte:02x}" for i, byte in enumerate(magic))
            lines.append(f'    if ({tests}) {style.reject}("bad magic");')
    kind = rng.choice(("kind", "type", "op"))
    lines += [
        f"    uint8_t {kind} = {inp}[{len(magic)}];",
        f"    const uint8_t *{body} = {inp} + {head};",
        f"    size_t {blen} = {n} - {head};",
    ]
    if length_width:
        at = len(magic) + 1
        if length_width == 1:
            read = f"{inp}[{at}]"
        elif length_endian == "le":
            read = f"(size_t)({inp}[{at}] | {inp}[{at + 1}] << 8)"
        else:
            read = f"(size_t)({inp}[{at}] << 8 | {inp}[{at + 1}])"
        lines.append(f'    if ({read} != {blen}) {style.reject}("length field does not match");')
    lines += _dispatch_binary(rng, style, kind, codes, handlers, body, blen)
    lines += [f'    {style.stage}("kind");', f'    if ({blen} != {total}) {style.reject}("wrong length");']
    lines += [f'    {style.stage}("length");']
    places = [f"{body} + {offsets[index]}" if offsets[index] else body for index in range(len(layers))]
    lines += check_site(rng, names, style, layers, places, target, verdicts)
    lines += ["}"]

    def frame(role: str, payload: bytes) -> bytes:
        size = b""
        if length_width == 1:
            size = bytes([len(payload) & 0xFF])
        elif length_width == 2:
            size = len(payload).to_bytes(2, "little" if length_endian == "le" else "big")
        return magic + bytes([values[role]]) + size + payload

    framing = Framing(
        "binary",
        rng.choice(("wire.c", "request.c", "frame.c", "packet.c")),
        entry,
        lines,
        [f"int {entry}(const uint8_t *{inp}, size_t {n});"],
        header,
        {role: magic + bytes([values[role]]) for role in roles},
        layout,
    )
    framing.encode_main = lambda fields: frame("main", b"".join(fields[index] for index in layout))
    framing.encode_other = frame
    return framing


def sections(
    rng: random.Random,
    names: Names,
    style: Style,
    layers: list[Layer],
    handlers: list[Handler],
    target: str,
    verdicts: Verdicts,
) -> Framing:
    roles = ["main", *(h.role for h in handlers)]
    values, codes, header = _kind_codes(rng, names, style, roles)
    layout = list(range(len(layers)))
    rng.shuffle(layout)
    tags = rng.sample(range(1, 256), len(layers))
    wide = rng.random() < 0.5
    entry = names.function(("handle", "parse", "load"), rng.choice(("request", "bundle", "container")))
    section = names.take(f"{names.noun()}_section")
    table = names.constant(names.noun(), "sections")
    inp, n = rng.choice((("in", "n"), ("buf", "len"), ("src", "size")))
    field_array = rng.choice(("found", "part", "sec"))
    rows = [f"    {{0x{tags[i]:02x}, {len(layers[index].data)}, {index}}}," for i, index in enumerate(layout)]
    size_read = f"({inp}[at + 1] | {inp}[at + 2] << 8)" if wide else f"{inp}[at + 1]"
    step = 3 if wide else 2
    lines = [
        f"struct {section} {{",
        "    uint8_t tag;",
        "    uint8_t size;",
        "    uint8_t slot;",
        "};",
        "",
        f"static const struct {section} {table}[{len(layers)}] = {{",
        *rows,
        "};",
        "",
        f"int {entry}(const uint8_t *{inp}, size_t {n}) {{",
        f'    if ({n} < 1) {style.reject}("empty request");',
    ]
    lines += _dispatch_binary(rng, style, f"{inp}[0]", codes, handlers, f"{inp} + 1", f"{n} - 1")
    lines += [
        f'    {style.stage}("kind");',
        f'    if ({n} < 2 || {inp}[1] != {len(layers)}) {style.reject}("wrong section count");',
        f"    const uint8_t *{field_array}[{len(layers)}];",
        "    size_t at = 2;",
        f"    for (size_t i = 0; i < {len(layers)}; i++) {{",
        f'        if (at + {step} > {n}) {style.reject}("truncated section");',
        f'        if ({inp}[at] != {table}[i].tag) {style.reject}("unexpected section");',
        f'        if ({size_read} != {table}[i].size) {style.reject}("wrong section size");',
        f"        {field_array}[{table}[i].slot] = {inp} + at + {step};",
        f"        at += {step} + {table}[i].size;",
        "    }",
        f'    if (at != {n}) {style.reject}("wrong length");',
        f'    {style.stage}("length");',
    ]
    lines += check_site(
        rng, names, style, layers, [f"{field_array}[{i}]" for i in range(len(layers))], target, verdicts
    )
    lines += ["}"]

    def main_request(fields: list[bytes]) -> bytes:
        out = bytearray([values["main"], len(layers)])
        for i, index in enumerate(layout):
            size = len(fields[index])
            out += bytes([tags[i]]) + (size.to_bytes(2, "little") if wide else bytes([size])) + fields[index]
        return bytes(out)

    framing = Framing(
        "sections",
        rng.choice(("container.c", "sections.c", "bundle.c", "reader.c")),
        entry,
        lines,
        [f"int {entry}(const uint8_t *{inp}, size_t {n});"],
        header,
        {role: bytes([values[role]]) for role in roles},
        layout,
    )
    framing.encode_main = main_request
    framing.encode_other = lambda role, payload: bytes([values[role]]) + payload
    return framing


VERBS = {
    "main": ("UNLOCK", "OPEN", "ACTIVATE", "REDEEM", "ARM", "COMMIT"),
    "echo": ("NOTE", "ECHO", "SAY", "COMMENT"),
    "assertion": ("LEGACY", "COMPAT", "V1"),
    "spin": ("WAIT", "HOLD", "SYNC"),
    "calls": ("STATS", "USAGE", "TALLY"),
    "count": ("COUNT", "SIZE", "STAT"),
    "version": ("VERSION", "INFO", "HELLO"),
}
KEYS = ("pin", "code", "seal", "token", "lanes", "route", "ticket", "script", "salt", "nonce", "words", "key")


def _cursor_helpers(rng: random.Random, names: Names) -> tuple[list[str], str, str, str]:
    """A cursor over the request's text and its two readers: an exact literal, and hexadecimal bytes."""
    cursor = names.take(rng.choice(("cursor", "scanner", "reader_state", "text_pos")))
    literal = names.one_of("take_literal", "expect_text", "eat", "accept_token")
    hexa = names.one_of("take_hex", "read_hex", "hex_field", "decode_hex_run")
    value = names.constant("hex", "value")
    if rng.random() < 0.5:
        value_expression = "(((c) & 0xfu) + 9u * ((c) >> 6))"  # digits and lowercase letters
    else:
        value_expression = "(((c) & 0xfu) + 9u * (((c) >> 6) & 1u))"  # either case
    lines = [
        "/* Lenient, as many hand-written loaders are: a digit's value by arithmetic, no check per character. */",
        f"#define {value}(c) {value_expression}",
        "",
        f"struct {cursor} {{",
        "    const uint8_t *at;",
        "    const uint8_t *end;",
        "};",
        "",
        f"static int {literal}(struct {cursor} *c, const char *text) {{",
        "    size_t k = strlen(text);",
        "    if ((size_t)(c->end - c->at) < k) return 0;",
        "    if (memcmp(c->at, text, k) != 0) return 0;",
        "    c->at += k;",
        "    return 1;",
        "}",
        "",
        f"static int {hexa}(struct {cursor} *c, uint8_t *out, size_t count) {{",
        "    if ((size_t)(c->end - c->at) < 2 * count) return 0;",
        "    for (size_t i = 0; i < count; i++) {",
        "        unsigned hi = c->at[2 * i], lo = c->at[2 * i + 1];",
        f"        out[i] = (uint8_t)({value}(hi) << 4 | {value}(lo));",
        "    }",
        "    c->at += 2 * count;",
        "    return 1;",
        "}",
        "",
    ]
    return lines, cursor, literal, hexa


def _text_dispatch(
    rng: random.Random, style: Style, literal: str, verbs: dict[str, str], handlers: list[Handler], c: str
) -> list[str]:
    order = list(handlers)
    rng.shuffle(order)
    rest = (f"{c}.at", f"(size_t)({c}.end - {c}.at)")
    lines = []
    if rng.random() < 0.5:
        for number, handler in enumerate(order, start=1):
            lines += [f"    if ({literal}(&{c}, {c_string(verbs[handler.role].encode())})) {{"]
            lines += call_handler(style, handler.function, *rest, str(number))
            lines += ["        return 0;", "    }"]
    else:
        other = rng.choice(("served", "other", "handled"))
        lines += [f"    int {other} = 1;"]
        for number, handler in enumerate(order, start=1):
            keyword = "if" if number == 1 else "} else if"
            lines += [f"    {keyword} ({literal}(&{c}, {c_string(verbs[handler.role].encode())})) {{"]
            lines += call_handler(style, handler.function, *rest, str(number))
        lines += ["    } else {", f"        {other} = 0;", "    }", f"    if ({other}) return 0;"]
    lines += [f'    if (!{literal}(&{c}, {c_string(verbs["main"].encode())})) {style.reject}("unknown request kind");']
    return lines


def _text_fields(
    rng: random.Random, layers: list[Layer], layout: list[int], names: Names
) -> tuple[list[str], list[str]]:
    """Where decoded fields are kept: one array each, or one buffer; (declarations, each field's place)."""
    if rng.random() < 0.5:
        arrays = [names.take(f"{layer.stage}_{rng.choice(('buf', 'raw', 'bin'))}") for layer in layers]
        return [f"    static uint8_t {a}[{len(layer.data)}];" for a, layer in zip(arrays, layers, strict=True)], arrays
    buffer = rng.choice(("decoded", "scratch", "fieldbuf"))
    total = sum(len(layer.data) for layer in layers)
    offsets = {}
    at = 0
    for index in layout:
        offsets[index] = at
        at += len(layers[index].data)
    places = [f"{buffer} + {offsets[i]}" if offsets[i] else buffer for i in range(len(layers))]
    return [f"    static uint8_t {buffer}[{total}];"], places


def hexlines(
    rng: random.Random,
    names: Names,
    style: Style,
    layers: list[Layer],
    handlers: list[Handler],
    target: str,
    verdicts: Verdicts,
) -> Framing:
    roles = ["main", *(h.role for h in handlers)]
    verbs = {role: rng.choice(VERBS[role]) for role in roles}
    one_line = rng.random() < 0.4
    separator = rng.choice((" ", ":", ",")) if one_line else "\n"
    verb_end = rng.choice(("\n", " ")) if one_line else "\n"
    lines_of = {role: verb + verb_end for role, verb in verbs.items()}
    layout = list(range(len(layers)))
    rng.shuffle(layout)
    helpers, cursor, literal, hexa = _cursor_helpers(rng, names)
    entry = names.function(("handle", "serve", "run"), rng.choice(("command", "line", "request")))
    inp, n = rng.choice((("text", "n"), ("in", "len"), ("line", "size")))
    c = rng.choice(("c", "cur", "scan"))
    declarations, places = _text_fields(rng, layers, layout, names)
    lines = [
        *helpers,
        f"int {entry}(const uint8_t *{inp}, size_t {n}) {{",
        f"    struct {cursor} {c} = {{{inp}, {inp} + {n}}};",
        *_text_dispatch(rng, style, literal, lines_of, handlers, c),
        f'    {style.stage}("kind");',
        *declarations,
    ]
    for position, index in enumerate(layout):
        end = "\n" if position == len(layout) - 1 else separator
        size = len(layers[index].data)
        lines.append(f"    if (!{hexa}(&{c}, {places[index]}, {size}) || !{literal}(&{c}, {c_string(end.encode())}))")
        lines.append(f'        {style.reject}("malformed field");')
    lines += [f'    if ({c}.at != {c}.end) {style.reject}("wrong length");', f'    {style.stage}("length");']
    lines += check_site(rng, names, style, layers, places, target, verdicts)
    lines += ["}"]

    def main_request(fields: list[bytes]) -> bytes:
        parts = [fields[index].hex() for index in layout]
        return (lines_of["main"] + separator.join(parts) + "\n").encode()

    framing = Framing(
        "hexlines",
        rng.choice(("protocol.c", "commands.c", "session.c", "textproto.c")),
        entry,
        lines,
        [f"int {entry}(const uint8_t *{inp}, size_t {n});"],
        [],
        {role: text.encode() for role, text in lines_of.items()},
        layout,
    )
    framing.encode_main = main_request
    framing.encode_other = lambda role, payload: lines_of[role].encode() + payload
    return framing


def keyvalue(
    rng: random.Random,
    names: Names,
    style: Style,
    layers: list[Layer],
    handlers: list[Handler],
    target: str,
    verdicts: Verdicts,
) -> Framing:
    roles = ["main", *(h.role for h in handlers)]
    verbs = {role: rng.choice(VERBS[role]).lower() for role in roles}
    action = rng.choice(("action", "op", "mode", "request"))
    separator = rng.choice(("=", ": ", " = "))
    lines_of = {role: f"{action}{separator}{verb}\n" for role, verb in verbs.items()}
    keys = rng.sample(KEYS, len(layers))
    layout = list(range(len(layers)))
    rng.shuffle(layout)
    helpers, cursor, literal, hexa = _cursor_helpers(rng, names)
    entry = names.function(("apply", "load", "read"), rng.choice(("config", "settings", "profile")))
    inp, n = rng.choice((("text", "n"), ("conf", "len"), ("src", "size")))
    c = rng.choice(("c", "cur", "pos"))
    declarations, places = _text_fields(rng, layers, layout, names)
    lines = [
        *helpers,
        f"int {entry}(const uint8_t *{inp}, size_t {n}) {{",
        f"    struct {cursor} {c} = {{{inp}, {inp} + {n}}};",
        *_text_dispatch(rng, style, literal, lines_of, handlers, c),
        f'    {style.stage}("kind");',
        *declarations,
    ]
    if rng.random() < 0.5:
        # The keys as a table walked in order.
        key_table = names.constant(names.noun(), "keys")
        lines[len(helpers) : len(helpers)] = [
            f"static const char *const {key_table}[{len(layers)}] = {{"
            + ", ".join(c_string(f"{keys[i]}{separator}".encode()) for i in range(len(layers)))
            + "};",
            "",
        ]
        for position, index in enumerate(layout):
            lines += [
                f"    if (!{literal}(&{c}, {key_table}[{position}]) || !{hexa}(&{c}, {places[index]}, "
                f'{len(layers[index].data)}) || !{literal}(&{c}, "\\n"))',
                f'        {style.reject}("malformed setting");',
            ]
        keys_in_order = [keys[position] for position in range(len(layers))]
    else:
        for position, index in enumerate(layout):
            lines += [
                f"    if (!{literal}(&{c}, {c_string(f'{keys[position]}{separator}'.encode())}))",
                f'        {style.reject}("missing setting");',
                f'    if (!{hexa}(&{c}, {places[index]}, {len(layers[index].data)}) || !{literal}(&{c}, "\\n"))',
                f'        {style.reject}("malformed setting");',
            ]
        keys_in_order = keys
    lines += [f'    if ({c}.at != {c}.end) {style.reject}("wrong length");', f'    {style.stage}("length");']
    lines += check_site(rng, names, style, layers, places, target, verdicts)
    lines += ["}"]

    def main_request(fields: list[bytes]) -> bytes:
        text = lines_of["main"]
        for position, index in enumerate(layout):
            text += f"{keys_in_order[position]}{separator}{fields[index].hex()}\n"
        return text.encode()

    framing = Framing(
        "keyvalue",
        rng.choice(("config.c", "settings.c", "profile.c", "conf.c")),
        entry,
        lines,
        [f"int {entry}(const uint8_t *{inp}, size_t {n});"],
        [],
        {role: text.encode() for role, text in lines_of.items()},
        layout,
    )
    framing.encode_main = main_request
    framing.encode_other = lambda role, payload: lines_of[role].encode() + payload
    return framing


FRAMINGS = {"binary": binary, "sections": sections, "hexlines": hexlines, "keyvalue": keyvalue}
