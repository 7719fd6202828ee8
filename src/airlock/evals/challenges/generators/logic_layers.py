"""The constraint layers of a logic-constraint program, each written one of several ways.

A layer is a C function ``int check(const uint8_t *field)`` over its own field of the request (decoded by
the framing, :mod:`.logic_frames`), true when the field satisfies it. Four kinds set the tiers (bytes tied by
equations modulo 256, 32-bit words tied by equations, 64-bit words through a bijective mixer, a command
sequence through a state machine); each kind is expressed in code one of several ways: inline comparisons,
a table of coefficients walked by a loop, a small interpreter of rule opcodes, helper functions per
equation, weighted sums, bit tricks. The solution is drawn first and every constant is computed from it.

Two rules keep every instance sound and within reach of the classical solver baseline:

* every equation is a bijection in each of its variables (sums, differences, XORs, odd multiples,
  rotations), so changing any one byte of a field breaks an equation: the one-byte-changed control fails;
* no basic block runs more than a few dozen times on the way to the target (symbolic execution sets aside
  a path that repeats one block more than 64 times), and no branch splits a path into two that both go on,
  except where the request's kind is dispatched.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from airlock.evals.challenges.generators.cprogram import Names, Style, c_bytes

M8 = 0xFF
M32 = (1 << 32) - 1
M64 = (1 << 64) - 1


@dataclass
class Layer:
    """One layer: what the program checks, the C that checks it, and the solution's field."""

    stage: str
    function: str
    lines: list[str]
    """The definitions: the check function and the file-local helpers it uses."""
    data: bytes
    """The field as the solution has it (the bytes the check reads)."""
    form: str
    retired: list[str] = field(default_factory=list)
    """An older check of the same kind with other constants, defined and never called (a dead end)."""
    retired_name: str = ""

    signature: str = ""
    """The check's signature, once written in the program's convention (:func:`conventional`)."""

    @property
    def prototype(self) -> str:
        return f"{self.signature};"

    def broken(self) -> bytes:
        """The field with its first byte changed: this layer no longer holds, the others are untouched."""
        return bytes([self.data[0] ^ 0x01]) + self.data[1:]


PARAMETER = "field"
"""The parameter every check is first written with; :func:`conventional` renames it."""


@dataclass(frozen=True)
class Verdicts:
    """How one program's checks say yes or no, and what they take.

    ``kind``: ``int`` (1 passes, 0 fails), ``bool`` (``true`` passes) or ``error`` (0 passes, -1 fails, as
    system calls do); ``param``: a pointer, an array of the field's size, or ``const void *``.
    """

    kind: str
    param: str

    @classmethod
    def draw(cls, rng: random.Random) -> Verdicts:
        return cls(rng.choice(("int", "bool", "error")), rng.choice(("pointer", "array", "void")))

    @property
    def type(self) -> str:
        return "bool" if self.kind == "bool" else "int"

    @property
    def passed(self) -> str:
        return {"int": "return 1;", "bool": "return true;", "error": "return 0;"}[self.kind]

    @property
    def failed(self) -> str:
        return {"int": "return 0;", "bool": "return false;", "error": "return -1;"}[self.kind]

    @property
    def pointer(self) -> str:
        """The checks' parameter type, as a function pointer to one of them declares it."""
        return "const void *" if self.param == "void" else "const uint8_t *"

    def fails(self, call: str, rng: random.Random) -> str:
        """A condition true when ``call`` (a call of a check) says no."""
        if self.kind == "error":
            return rng.choice((f"{call} != 0", f"{call} < 0"))
        return rng.choice((f"!{call}", f"{call} == {'false' if self.kind == 'bool' else '0'}"))


def conventional(lines: list[str], function: str, size: int, verdicts: Verdicts) -> tuple[list[str], str]:
    """``lines`` with the check ``function`` (written as ``int f(const uint8_t *field)`` returning 1 or 0,
    its first line an alias of the field) rewritten in ``verdicts``' convention; and its signature."""
    start = next(i for i, line in enumerate(lines) if line.startswith(f"int {function}("))
    end = lines.index("}", start)
    alias = lines[start + 1]
    local = alias.split("*", 1)[1].split(" =", 1)[0]
    if verdicts.param == "void":
        signature = f"{verdicts.type} {function}(const void *{PARAMETER})"
        body = [alias]
    else:
        declared = f"{local}[{size}]" if verdicts.param == "array" else f"*{local}"
        signature = f"{verdicts.type} {function}(const uint8_t {declared})"
        body = []
    rewritten = []
    returning = False
    for line in lines[start + 2 : end]:
        if line.endswith("return 0;"):
            line = line[: -len("return 0;")] + verdicts.failed
        elif line.endswith("return 1;"):
            line = line[: -len("return 1;")] + verdicts.passed
        elif line.lstrip().startswith("return ") and verdicts.kind == "error":
            returning = True
            line = line.replace("return ", "return (", 1)
        if returning and line.endswith(";"):
            line = line[:-1] + ") ? 0 : -1;"
            returning = False
        rewritten.append(line)
    return [*lines[:start], signature + " {", *body, *rewritten, *lines[end:]], signature


def _rotl32(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (32 - shift))) & M32


def _rotl8(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (8 - shift))) & M8


def _head(name: str, rng: random.Random) -> tuple[str, str]:
    """The signature line of a check, and the local name of its field."""
    local = rng.choice(("p", "b", "in", "v", "raw"))
    return f"int {name}(const uint8_t *{PARAMETER}) {{", local


# Bytes: equations modulo 256 ------------------------------------------------------------------------------

# An equation over bytes x = b[i], y = b[j] (i may equal j for the one-variable kinds): (kind, factor, shift).
ByteEquation = tuple[str, int, int, int, int]
"""(kind, i, j, factor or rotation, expected value)."""


def _byte_equations(rng: random.Random, b: bytes) -> list[ByteEquation]:
    count = len(b)
    positions = list(range(count))
    rng.shuffle(positions)
    equations: list[ByteEquation] = []
    # Every byte is in at least one equation, so that changing any one of them breaks one.
    while positions:
        i = positions.pop()
        j = positions.pop() if positions and rng.random() < 0.8 else rng.randrange(count)
        kind = rng.choice(("mul1", "eq", "rot1")) if i == j else rng.choice(("sum", "xor", "diff", "mul", "rotx"))
        factor = rng.randrange(3, 256, 2) if kind in ("mul", "mul1") else rng.randrange(1, 8)
        equations.append((kind, i, j, factor, _byte_value(kind, b[i], b[j], factor)))
    rng.shuffle(equations)
    return equations


def _byte_value(kind: str, x: int, y: int, k: int) -> int:
    if kind in ("rotx", "rot1"):
        return _rotl8(x, k) ^ (y if kind == "rotx" else 0)
    return {
        "sum": (x + y) & M8,
        "xor": x ^ y,
        "diff": (x - y) & M8,
        "mul": (x * k + y) & M8,
        "mul1": (x * k) & M8,
        "eq": x,
    }[kind]


def _byte_expression(kind: str, x: str, y: str, k: int, rot: str | None) -> str:
    """The equation's left side in C over the byte expressions ``x`` and ``y``."""
    rotated = f"{rot}({x}, {k})" if rot else f"(uint8_t)(({x} << {k}) | ({x} >> {8 - k}))"
    return {
        "sum": f"(uint8_t)({x} + {y})",
        "xor": f"({x} ^ {y})",
        "diff": f"(uint8_t)({x} - {y})",
        "mul": f"(uint8_t)({x} * {k}u + {y})",
        "rotx": f"({rotated} ^ {y})",
        "mul1": f"(uint8_t)({x} * {k}u)",
        "eq": x,
        "rot1": rotated,
    }[kind]


def bytes_layer(rng: random.Random, names: Names, style: Style, solution: bytes) -> Layer:
    name = names.function(("check", "verify", "test", "admit"), rng.choice(("pin", "code", "seal", "prefix")))
    form = rng.choice(("inline", "interpreter", "weighted", "helper"))
    lines = _bytes_code(rng, names, style, name, form, solution)
    layer = Layer("bytes", name, lines, solution, form)
    if rng.random() < 0.4:
        old = bytes(rng.randrange(256) for _ in solution)
        layer.retired_name = names.function(("legacy", "old", "v1"), "check")
        layer.retired = _bytes_code(rng, names, style, layer.retired_name, rng.choice(("inline", "weighted")), old)
    return layer


def _bytes_code(rng: random.Random, names: Names, style: Style, name: str, form: str, b: bytes) -> list[str]:
    head, p = _head(name, rng)
    lines = [head, f"    const uint8_t *{p} = {PARAMETER};"]
    if form == "weighted":
        # Weighted sums over every byte: each byte gets an odd weight in at least one row.
        row_count = rng.randrange(2, 5)
        weights = [[rng.randrange(256) for _ in b] for _ in range(row_count)]
        for column in range(len(b)):
            row = rng.randrange(row_count)
            weights[row][column] |= 1
        sums = [sum(w * x for w, x in zip(row, b, strict=True)) & M8 for row in weights]
        table, sums_table = names.constant(names.noun(), "weights"), names.constant(names.noun(), "sums")
        return [
            f"static const uint8_t {table}[{row_count}][{len(b)}] = {{",
            *(f"    {{{c_bytes(bytes(row))}}}," for row in weights),
            "};",
            f"static const uint8_t {sums_table}[{row_count}] = {{{c_bytes(bytes(sums))}}};",
            "",
            *lines,
            f"    for (size_t row = 0; row < {row_count}; row++) {{",
            "        uint8_t acc = 0;",
            f"        for (size_t i = 0; i < {len(b)}; i++) acc = (uint8_t)(acc + {table}[row][i] * {p}[i]);",
            f"        if (acc != {sums_table}[row]) return 0;",
            "    }",
            "    return 1;",
            "}",
        ]
    equations = _byte_equations(rng, b)
    if form == "inline":
        rot = None
        if any(kind in ("rotx", "rot1") for kind, *_ in equations) and rng.random() < 0.5:
            rot = names.one_of("rotl8", "rol8", "rotate_byte")
            lines[0:0] = [
                f"static uint8_t {rot}(uint8_t x, unsigned k) {{",
                "    return (uint8_t)((x << k) | (x >> (8 - k)));",
                "}",
                "",
            ]
        joined = rng.random() < 0.4
        tests = []
        for kind, i, j, k, want in equations:
            expression = _byte_expression(kind, f"{p}[{i}]", f"{p}[{j}]", k, rot)
            tests.append(f"{expression} == 0x{want:02x}" if joined else f"{expression} != 0x{want:02x}")
        if joined:
            lines.append(f"    return {tests[0]}")
            lines += [f"        && {test}" for test in tests[1:]]
            lines[-1] += ";"
        else:
            lines += [f"    if ({test}) return 0;" for test in tests]
            lines += ["    return 1;"]
        return [*lines, "}"]
    opcodes = ["sum", "xor", "diff", "mul", "rotx", "mul1", "eq", "rot1"]
    rng.shuffle(opcodes)
    code = {kind: number for number, kind in enumerate(opcodes, start=rng.randrange(1, 9))}
    if form == "interpreter":
        # A rule table walked by a loop: (opcode, i, j, k, expected), one switch case per opcode used.
        rule = names.take(f"{names.noun()}_rule")
        table = names.constant(names.noun(), "rules")
        used = sorted({kind for kind, *_ in equations}, key=lambda kind: code[kind])
        rows = [f"    {{{code[kind]}, {i}, {j}, {k}, 0x{want:02x}}}," for kind, i, j, k, want in equations]
        lines = [
            f"struct {rule} {{",
            "    uint8_t op, i, j, k, want;",
            "};",
            "",
            f"static const struct {rule} {table}[] = {{",
            *rows,
            "};",
            "",
            *lines,
            f"    for (size_t r = 0; r < sizeof {table} / sizeof {table}[0]; r++) {{",
            f"        const struct {rule} *q = &{table}[r];",
            f"        uint8_t x = {p}[q->i], y = {p}[q->j], got;",
            "        switch (q->op) {",
        ]
        for kind in used:
            expression = _byte_expression(kind, "x", "y", 0, None).replace(" 0u", " q->k")
            if kind in ("rotx", "rot1"):
                rotated = "(uint8_t)((x << q->k) | (x >> (8 - q->k)))"
                expression = f"({rotated} ^ y)" if kind == "rotx" else rotated
            lines += [f"        case {code[kind]}: got = {expression}; break;"]
        lines += [
            "        default: return 0;",
            "        }",
            "        if (got != q->want) return 0;",
            "    }",
            "    return 1;",
            "}",
        ]
        return lines
    # helper: one function that judges one equation, called once per equation.
    judge = names.one_of("byte_rule_holds", "pair_ok", "relation_holds", "rule_ok")
    used = sorted({kind for kind, *_ in equations}, key=lambda kind: code[kind])
    helper = [f"static int {judge}(uint8_t x, uint8_t y, int how, unsigned k, uint8_t want) {{"]
    if rng.random() < 0.5:
        helper += ["    uint8_t got;", "    switch (how) {"]
        for kind in used:
            expression = _byte_expression(kind, "x", "y", 0, None).replace(" 0u", " k")
            if kind in ("rotx", "rot1"):
                rotated = "(uint8_t)((x << k) | (x >> (8 - k)))"
                expression = f"({rotated} ^ y)" if kind == "rotx" else rotated
            helper += [f"    case {code[kind]}: got = {expression}; break;"]
        helper += ["    default: return 0;", "    }", "    return got == want;", "}", ""]
    else:
        for kind in used:
            expression = _byte_expression(kind, "x", "y", 0, None).replace(" 0u", " k")
            if kind in ("rotx", "rot1"):
                rotated = "(uint8_t)((x << k) | (x >> (8 - k)))"
                expression = f"({rotated} ^ y)" if kind == "rotx" else rotated
            helper += [f"    if (how == {code[kind]}) return {expression} == want;"]
        helper += ["    return 0;", "}", ""]
    calls = [
        f"    if (!{judge}({p}[{i}], {p}[{j}], {code[kind]}, {k}, 0x{want:02x})) return 0;"
        for kind, i, j, k, want in equations
    ]
    return [*helper, *lines, *calls, "    return 1;", "}"]


# Words: equations over 32-bit words ---------------------------------------------------------------------


def words_layer(rng: random.Random, names: Names, style: Style, words: list[int], reader: str, endian: str) -> Layer:
    """``reader`` is the program's helper reading a 32-bit word in ``endian`` order."""
    count = len(words)
    equations = []
    for i in range(count):
        j = (i + 1 + rng.randrange(count - 1)) % count
        kind = rng.choice(("affine", "xor_add", "rotate", "sub_mul"))
        k = rng.getrandbits(32) | 1 if kind != "rotate" else rng.randrange(1, 32)
        x, y = words[i], words[j]
        if kind == "rotate":
            want = _rotl32(x, k) ^ y
        else:
            want = {"affine": (x * k + y) & M32, "xor_add": ((x ^ y) + k) & M32, "sub_mul": (x - y * k) & M32}[kind]
        equations.append((kind, i, j, k, want))
    rng.shuffle(equations)
    name = names.function(("check", "verify", "validate", "match"), rng.choice(("words", "counters", "keys", "lanes")))
    form = rng.choice(("inline", "table", "helpers", "direct"))
    head, p = _head(name, rng)
    w = rng.choice(("w", "word", "lane", "u"))
    data = b"".join(value.to_bytes(4, "little" if endian == "le" else "big") for value in words)
    rotl = names.one_of("rotl32", "rol32", "rotate_left")
    rot_helper = [
        f"static uint32_t {rotl}(uint32_t x, unsigned k) {{",
        "    return (x << k) | (x >> (32 - k));",
        "}",
        "",
    ]

    def expression(kind: str, x: str, y: str, k: str) -> str:
        return {
            "affine": f"(uint32_t)({x} * {k} + {y})",
            "xor_add": f"(uint32_t)(({x} ^ {y}) + {k})",
            "rotate": f"({rotl}({x}, {k}) ^ {y})",
            "sub_mul": f"(uint32_t)({x} - {y} * {k})",
        }[kind]

    def literal(kind: str, k: int) -> str:
        return str(k) if kind == "rotate" else f"0x{k:08x}u"

    load = [f"    uint32_t {w}[{count}];"]
    if rng.random() < 0.5:
        load += [f"    for (size_t i = 0; i < {count}; i++) {w}[i] = {reader}({p} + 4 * i);"]
    else:
        load += [f"    {w}[{i}] = {reader}({p} + {4 * i});" for i in range(count)]
    lines = [head, f"    const uint8_t *{p} = {PARAMETER};"]
    if form == "direct":
        # No array: each word read where the equation needs it.
        body = []
        for kind, i, j, k, want in equations:
            text = expression(kind, f"{reader}({p} + {4 * i})", f"{reader}({p} + {4 * j})", literal(kind, k))
            body.append(f"    if ({text} != 0x{want:08x}u) return 0;")
        lines = [*rot_helper, *lines, *body, "    return 1;", "}"]
    elif form == "inline":
        body = [
            f"    if ({expression(kind, f'{w}[{i}]', f'{w}[{j}]', literal(kind, k))} != 0x{want:08x}u) return 0;"
            for kind, i, j, k, want in equations
        ]
        lines = [*rot_helper, *lines, *load, *body, "    return 1;", "}"]
    elif form == "table":
        kinds = ["affine", "xor_add", "rotate", "sub_mul"]
        rng.shuffle(kinds)
        code = {kind: chr(ord("a") + n) for n, kind in enumerate(kinds)}
        row_type = names.take(f"{names.noun()}_equation")
        table = names.constant(names.noun(), "equations")
        rows = [f"    {{'{code[kind]}', {i}, {j}, 0x{k:08x}u, 0x{want:08x}u}}," for kind, i, j, k, want in equations]
        used = sorted({kind for kind, *_ in equations}, key=lambda kind: code[kind])
        cases = [f"        case '{code[kind]}': got = {expression(kind, 'x', 'y', 'e->k')}; break;" for kind in used]
        lines = [
            *rot_helper,
            f"struct {row_type} {{",
            "    char op;",
            "    uint8_t i, j;",
            "    uint32_t k, want;",
            "};",
            "",
            f"static const struct {row_type} {table}[] = {{",
            *rows,
            "};",
            "",
            *lines,
            *load,
            f"    for (size_t n = 0; n < sizeof {table} / sizeof *{table}; n++) {{",
            f"        const struct {row_type} *e = {table} + n;",
            f"        uint32_t x = {w}[e->i], y = {w}[e->j], got;",
            "        switch (e->op) {",
            *cases,
            "        default: return 0;",
            "        }",
            "        if (got != e->want) return 0;",
            "    }",
            "    return 1;",
            "}",
        ]
    else:
        # One small function per kind of equation, each called where it applies.
        helpers: dict[str, str] = {}
        helper_lines: list[str] = []
        for kind in sorted({kind for kind, *_ in equations}):
            helpers[kind] = names.one_of(
                *{
                    "affine": ("affine32", "scale_add", "mul_add"),
                    "xor_add": ("xor_add", "mix_add", "blend"),
                    "rotate": ("rot_xor", "spin_xor", "twist"),
                    "sub_mul": ("sub_scaled", "mul_sub", "offset_by"),
                }[kind]
            )
            signature = f"static uint32_t {helpers[kind]}(uint32_t x, uint32_t y, uint32_t k) {{"
            helper_lines += [signature, f"    return {expression(kind, 'x', 'y', 'k')};", "}", ""]
        body = [
            f"    if ({helpers[kind]}({w}[{i}], {w}[{j}], {literal(kind, k)}) != 0x{want:08x}u) return 0;"
            for kind, i, j, k, want in equations
        ]
        lines = [*rot_helper, *helper_lines, *lines, *load, *body, "    return 1;", "}"]
    if "rotate" not in {kind for kind, *_ in equations}:
        lines = lines[len(rot_helper) :]  # nothing calls it, and an unused static function warns
    return Layer("words", name, lines, data, form)


# Mix: 64-bit words through a bijective mixer ------------------------------------------------------------

MixStep = tuple[str, int]


def _mixer_steps(rng: random.Random) -> list[MixStep]:
    """Two odd multiplies, each after a right xorshift, a final xorshift, and up to two cheap bijections."""
    steps: list[MixStep] = [
        ("xsr", rng.randrange(13, 41)),
        ("mul", rng.getrandbits(64) | 1),
        ("xsr", rng.randrange(13, 41)),
        ("mul", rng.getrandbits(64) | 1),
        ("xsr", rng.randrange(13, 41)),
    ]
    for _ in range(rng.randrange(0, 3)):
        extra = rng.choice((("add", rng.getrandbits(64)), ("xor", rng.getrandbits(64)), ("xsl", rng.randrange(7, 29))))
        steps.insert(rng.randrange(len(steps) + 1), extra)
    return steps


def _mix(steps: list[MixStep], x: int) -> int:
    for op, k in steps:
        if op == "xsr":
            x ^= x >> k
        elif op == "xsl":
            x = (x ^ (x << k)) & M64
        elif op == "mul":
            x = (x * k) & M64
        elif op == "add":
            x = (x + k) & M64
        else:
            x ^= k
    return x


def _mix_line(op: str, k: int, x: str) -> str:
    return {
        "xsr": f"{x} ^= {x} >> {k};",
        "xsl": f"{x} ^= {x} << {k};",
        "mul": f"{x} *= 0x{k:016x}ull;",
        "add": f"{x} += 0x{k:016x}ull;",
        "xor": f"{x} ^= 0x{k:016x}ull;",
    }[op]


def mix_layer(rng: random.Random, names: Names, style: Style, values: list[int], reader: str, endian: str) -> Layer:
    """``reader`` is the program's helper reading a 32-bit word in ``endian`` order."""
    steps = _mixer_steps(rng)
    targets = [_mix(steps, value) for value in values]
    data = b"".join(value.to_bytes(8, "little" if endian == "le" else "big") for value in values)
    mixer = names.one_of("mix64", "scramble", "avalanche", "hash_lane", "fold64")
    load64 = names.one_of("load64", "read_u64", "get64", "fetch_u64")
    name = names.function(("check", "verify", "match"), rng.choice(("digest", "tokens", "ticket", "hash")))
    x = rng.choice(("x", "h", "z", "s"))
    form = rng.choice(("straight", "interpreter", "rounds"))
    if rng.random() < 0.5:
        high, low = ("p + 4", "p") if endian == "le" else ("p", "p + 4")
        load = [
            f"static uint64_t {load64}(const uint8_t *p) {{",
            f"    return (uint64_t){reader}({high}) << 32 | {reader}({low});",
            "}",
        ]
    else:
        term = "(uint64_t)p[k] << (8 * k)" if endian == "le" else "(uint64_t)p[7 - k] << (8 * k)"
        load = [
            f"static uint64_t {load64}(const uint8_t *p) {{",
            "    uint64_t v = 0;",
            f"    for (int k = 0; k < 8; k++) v |= {term};",
            "    return v;",
            "}",
        ]
    if form == "straight":
        mix = [f"static uint64_t {mixer}(uint64_t {x}) {{", *(f"    {_mix_line(op, k, x)}" for op, k in steps)]
        mix += [f"    return {x};", "}"]
    elif form == "interpreter":
        ops = ["xsr", "xsl", "mul", "add", "xor"]
        rng.shuffle(ops)
        code = {op: n for n, op in enumerate(ops, start=rng.randrange(1, 6))}
        program = names.constant(names.noun(), "program")
        rows = [f"    {{{code[op]}, 0x{k:016x}ull}}," for op, k in steps]
        used = sorted({op for op, _ in steps}, key=lambda op: code[op])
        # Each case applies its step with the table's argument ``a`` in place of the constant.
        applied = {op: _mix_line(op, 0, x).replace("0x0000000000000000ull", "a").replace(" 0;", " a;") for op in used}
        cases = [f"        case {code[op]}: {applied[op]} break;" for op in used]
        mix = [
            f"static const struct {{ uint8_t op; uint64_t arg; }} {program}[] = {{",
            *rows,
            "};",
            "",
            f"static uint64_t {mixer}(uint64_t {x}) {{",
            f"    for (size_t i = 0; i < sizeof {program} / sizeof {program}[0]; i++) {{",
            f"        uint64_t a = {program}[i].arg;",
            f"        switch ({program}[i].op) {{",
            *cases,
            "        }",
            "    }",
            f"    return {x};",
            "}",
        ]
    else:
        # The two multiply rounds as a loop over tables; any extra steps stay inline, before or after.
        first_mul = next(i for i, (op, _) in enumerate(steps) if op == "mul")
        start = first_mul - 1
        core = steps[start : start + 4]
        if [op for op, _ in core] != ["xsr", "mul", "xsr", "mul"]:
            form = "straight"
            mix = [f"static uint64_t {mixer}(uint64_t {x}) {{", *(f"    {_mix_line(op, k, x)}" for op, k in steps)]
            mix += [f"    return {x};", "}"]
        else:
            shifts, factors = names.constant("shifts"), names.constant("factors")
            mix = [
                f"static const unsigned {shifts}[2] = {{{core[0][1]}, {core[2][1]}}};",
                f"static const uint64_t {factors}[2] = {{0x{core[1][1]:016x}ull, 0x{core[3][1]:016x}ull}};",
                "",
                f"static uint64_t {mixer}(uint64_t {x}) {{",
                *(f"    {_mix_line(op, k, x)}" for op, k in steps[:start]),
                "    for (int round = 0; round < 2; round++) {",
                f"        {x} ^= {x} >> {shifts}[round];",
                f"        {x} *= {factors}[round];",
                "    }",
                *(f"    {_mix_line(op, k, x)}" for op, k in steps[start + 4 :]),
                f"    return {x};",
                "}",
            ]
    head, p = _head(name, rng)
    if rng.random() < 0.5:
        expected = names.constant("expected", names.noun())
        check = [
            f"static const uint64_t {expected}[{len(targets)}] = {{{', '.join(f'0x{t:016x}ull' for t in targets)}}};",
            "",
            head,
            f"    const uint8_t *{p} = {PARAMETER};",
            f"    for (size_t i = 0; i < {len(targets)}; i++)",
            f"        if ({mixer}({load64}({p} + 8 * i)) != {expected}[i]) return 0;",
            "    return 1;",
            "}",
        ]
    else:
        check = [head, f"    const uint8_t *{p} = {PARAMETER};"]
        check += [
            f"    if ({mixer}({load64}({p} + {8 * i})) != 0x{t:016x}ull) return 0;" for i, t in enumerate(targets)
        ]
        check += ["    return 1;", "}"]
    return Layer("mix", name, [*load, "", *mix, "", *check], data, form)


# Commands: a state machine -------------------------------------------------------------------------------

Update = Callable[[int, int, int, int], int]
UPDATES: dict[str, tuple[str, Update]] = {
    # name: (C, with acc, arg, state and M; Python twin)
    "xor_mul": ("(uint32_t)((acc ^ arg) * M + (uint32_t)state)", lambda a, g, s, m: ((a ^ g) * m + s) & M32),
    "add_mul": ("(uint32_t)(((acc + arg) * M) ^ (uint32_t)state)", lambda a, g, s, m: (((a + g) * m) ^ s) & M32),
    "rot_add": (
        "(uint32_t)(((acc << 5) | (acc >> 27)) + arg * M + (uint32_t)state)",
        lambda a, g, s, m: (_rotl32(a, 5) + g * m + s) & M32,
    ),
}


def commands_layer(rng: random.Random, names: Names, style: Style, steps: int) -> Layer:
    opcodes = rng.sample(range(1, 256), steps + 1)
    expected, reset = opcodes[:steps], opcodes[steps]
    masks = [rng.choice((0x03, 0x0C, 0x30, 0xC0, 0x81, 0x18, 0x06, 0x60)) for _ in range(steps)]
    arguments = [rng.randrange(256) for _ in range(steps)]
    bits = [argument & mask for argument, mask in zip(arguments, masks, strict=True)]
    start = rng.getrandbits(32)
    multiplier = rng.getrandbits(32) | 1
    update_name = rng.choice(sorted(UPDATES))
    update_c, update = UPDATES[update_name]
    acc = start
    for state, argument in enumerate(arguments):
        acc = update(acc, argument, state, multiplier)
    data = b"".join(bytes([op, argument]) for op, argument in zip(expected, arguments, strict=True))
    name = names.function(("run", "replay", "drive", "execute"), rng.choice(("script", "sequence", "program", "steps")))
    head, p = _head(name, rng)
    step_code = update_c.replace("M", f"0x{multiplier:08x}u")
    form = rng.choice(("tables", "switch"))
    lines = [head, f"    const uint8_t *{p} = {PARAMETER};"]
    if form == "tables":
        lines[0:0] = [
            f"static const uint8_t {names.constant('expected', 'ops')}[{steps}] = {{{c_bytes(bytes(expected))}}};",
            f"static const uint8_t {names.constant('guard', 'mask')}[{steps}] = {{{c_bytes(bytes(masks))}}};",
            f"static const uint8_t {names.constant('guard', 'bits')}[{steps}] = {{{c_bytes(bytes(bits))}}};",
            "",
        ]
        ops, mask, want = (line.split()[3].split("[")[0] for line in lines[:3])
        lines += [
            f"    uint32_t acc = 0x{start:08x}u;",
            "    size_t state = 0;",
            f"    for (size_t i = 0; i < {steps}; i++) {{",
            f"        uint8_t op = {p}[2 * i], arg = {p}[2 * i + 1];",
            f"        if (op == 0x{reset:02x}) {{ state = 0; acc = 0x{start:08x}u; continue; }}",
            f"        if (state >= {steps} || op != {ops}[state]) return 0;",
            f"        if ((arg & {mask}[state]) != {want}[state]) return 0;",
            f"        acc = {step_code};",
            "        state++;",
            "    }",
            f"    return state == {steps} && acc == 0x{acc:08x}u;",
            "}",
        ]
    else:
        cases = []
        for state in range(steps):
            cases += [
                f"        case {state}:",
                f"            if (op != 0x{expected[state]:02x} || (arg & 0x{masks[state]:02x}) != 0x{bits[state]:02x})"
                " return 0;",
                "            break;",
            ]
        lines += [
            f"    uint32_t acc = 0x{start:08x}u;",
            "    unsigned state = 0;",
            f"    for (const uint8_t *c = {p}; c < {p} + {2 * steps}; c += 2) {{",
            "        uint8_t op = c[0], arg = c[1];",
            f"        if (op == 0x{reset:02x}) {{",
            "            state = 0;",
            f"            acc = 0x{start:08x}u;",
            "            continue;",
            "        }",
            "        switch (state) {",
            *cases,
            "        default:",
            "            return 0;",
            "        }",
            f"        acc = {step_code};",
            "        state++;",
            "    }",
            f"    if (state != {steps}) return 0;",
            f"    return acc == 0x{acc:08x}u;",
            "}",
        ]
    return Layer("commands", name, lines, data, form + "/" + update_name)
