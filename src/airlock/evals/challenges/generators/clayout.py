"""Laying a generated C program out over files: header, ``main.c``, the format's parser, features, helpers.

What varies between programs here: how many files the features are spread over and what they are called,
where the dispatcher lives, how it dispatches (a ``switch``, an ``if`` chain or a table of handlers), how the
record kinds are named (``#define``, ``enum`` or bare numbers), how ``main`` reads its input, and which
unused helpers (dead ends) ride along.
"""

from __future__ import annotations

import difflib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airlock.evals.challenges.generators.cfeatures import Feature, Parts
from airlock.evals.challenges.generators.cformats import Format
from airlock.evals.challenges.generators.cprogram import (
    COMPILE,
    DEAD_ENDS,
    MAX_INPUT,
    SourceFile,
    assemble,
    core_helpers,
    core_prototypes,
)


@dataclass
class Program:
    files: dict[str, str]
    """Every file of the program by name (sources, then the header)."""
    c_files: list[str]
    plants: dict[str, tuple[str, int]]
    """Flawed feature -> (file, line) of its flaw."""
    fixed: dict[str, str] = field(default_factory=dict)
    """The files the target's fix changes, as fixed."""
    main_file: str = "main.c"
    length_variable: str = "n"
    features_file: dict[str, str] = field(default_factory=dict)
    """Feature function -> the file it is defined in."""

    @property
    def build_command(self) -> list[str]:
        return [*COMPILE, "-o", "target", *self.c_files]

    def source_text(self) -> str:
        """Every file, one after another: what a reader (or a diversity measure) sees."""
        return "".join(f"/* ==== {name} ==== */\n{text}" for name, text in self.files.items())


def lay_out(
    parts: Parts,
    features: list[Feature],
    fmt: Format,
    target: Feature | None,
    dispatch: str,
    banner: Sequence[str] = (),
) -> Program:
    """The program of ``features`` behind ``fmt``, laid out over files, each opening with ``banner``;
    ``target``'s fix kept apart."""
    rng, names, style = parts.rng, parts.names, parts.style
    header_name = f"{names.prefix}.h"
    for key in rng.sample(sorted(DEAD_ENDS), rng.randrange(1, 4)):
        parts.library.need(key)

    # Where the features go: one to three files.
    count = rng.choice((1, 2, 2, 3)) if len(features) > 3 else 1
    bases = [f"{noun}s" for noun in names.nouns] + ["handlers", "features", "ops", f"{names.prefix}_core"]
    rng.shuffle(bases)
    feature_files = [f"{base}.c" for base in bases[:count]]
    placed: dict[str, list[Feature]] = {name: [] for name in feature_files}
    for feature in features:
        placed[rng.choice(feature_files)].append(feature)
    dispatch_home = rng.choice(("main", "own", "features"))
    entry = fmt.entry()

    kinds = KindMap.draw(rng, fmt.codes, fmt.tier)
    word = rng.choice(("kind", "op", "msg", "cmd", "slot", "tag", names.prefix)) if fmt.tier >= 2 else "kind"
    constant = {f.function: names.constant(word, f.function) for f in features}
    slots = {f.function: kinds.slot(fmt.codes[f.function]) for f in features}

    def code_of(function: str) -> str:
        return f"0x{slots[function]:02x}" if style.codes == "literal" else constant[function]

    dispatch_lines = _dispatch(parts, features, dispatch, code_of, kinds, slots)

    util_name = rng.choice(("util.c", "common.c", "support.c", f"{names.prefix}_util.c"))
    main_lines, length_variable = _main(parts, entry.function)

    def feature_file(name: str, chosen: list[Feature], use_fixed: bool) -> SourceFile:
        lines = [f'#include "{header_name}"', ""]
        for feature in chosen:
            lines += [*(feature.fixed if use_fixed and feature is target else feature.broken), ""]
        if dispatch_home == "features" and name == feature_files[0]:
            lines += dispatch_lines
        return SourceFile(name, lines)

    def sources(use_fixed: bool) -> list[SourceFile]:
        main_file = SourceFile("main.c", [f'#include "{header_name}"', "", *main_lines])
        if dispatch_home == "main":
            main_file.lines[2:2] = [*dispatch_lines, ""]
        files = [main_file]
        if dispatch_home == "own":
            files.append(SourceFile(rng_choice_dispatch, [f'#include "{header_name}"', "", *dispatch_lines]))
        files.append(SourceFile(entry.file, [line.replace("HEADER", header_name) for line in entry.lines]))
        files += [feature_file(name, placed[name], use_fixed) for name in feature_files]
        return files

    def restyled(files: list[SourceFile]) -> list[SourceFile]:
        return [SourceFile(source.name, [style.restyle(line) for line in source.lines]) for source in files]

    rng_choice_dispatch = rng.choice(("dispatch.c", "router.c", "handlers_table.c"))
    broken_sources = restyled(sources(False))
    # The helpers last: the parts above asked for the ones they use.
    util = SourceFile(
        util_name, [f'#include "{header_name}"', "", *core_helpers(style, rng), *parts.library.definitions()]
    )
    header = SourceFile(header_name, _header(parts, header_name, features, slots, entry.function, dispatch, constant))
    util, header = restyled([util, header])
    assembled = assemble([*broken_sources, util], header, banner)
    program = Program(
        files=assembled.files,
        c_files=[source.name for source in [*broken_sources, util]],
        plants=assembled.plants,
        length_variable=length_variable,
        features_file={f.function: name for name, chosen in placed.items() for f in chosen},
    )
    if target is not None:
        fixed = assemble([*restyled(sources(True)), util], header, banner).files
        program.fixed = {name: text for name, text in fixed.items() if text != assembled.files[name]}
    return program


@dataclass(frozen=True)
class KindMap:
    """How the dispatcher turns a record's kind into the number its cases compare (generator version 3).

    Version 2 compared the kind the format delivered with literal codes, so the case of a handler named the
    record kind that reaches it. From tier 2 the dispatcher may first compute a slot from the kind: ``xor``
    with a key, an ``affine`` map of the byte (an odd multiplier, so no two kinds share a slot), a ``modulo``
    (the table's slots are the kinds' remainders), or the kind less the lowest code (``offset``); and it may
    index a dense table of handlers by that slot (``indexed``) or split the handlers into groups, each with a
    dispatcher of its own (``grouped``: the slot's remainder picks the group, its quotient the handler).
    """

    form: str
    key: int = 0
    multiplier: int = 1
    modulus: int = 0
    shape: str = "cases"
    """``cases`` (switch, chain or table of the style), ``indexed`` or ``grouped``."""
    groups: int = 0

    @classmethod
    def draw(cls, rng: random.Random, codes: dict[str, int], tier: int) -> KindMap:
        if tier < 2:
            return cls("direct")
        values = sorted(codes.values())
        form = rng.choice(("direct", "xor", "affine", "modulo", "offset"))
        if form == "xor":
            made = cls("xor", key=rng.randrange(1, 256))
        elif form == "affine":
            made = cls("affine", key=rng.randrange(256), multiplier=rng.choice((3, 5, 7, 11, 13, 37, 101)))
        elif form == "modulo":
            moduli = [m for m in range(len(values), 64) if len({v % m for v in values}) == len(values)]
            made = cls("modulo", modulus=rng.choice(moduli[:6])) if moduli else cls("direct")
        elif form == "offset":
            made = cls("offset", key=values[0])
        else:
            made = cls("direct")
        slots = [made.slot(v) for v in values]
        shapes = ["cases", "cases", "grouped"] + (["indexed"] if max(slots) < 48 else [])
        shape = rng.choice(shapes)
        return cls(made.form, made.key, made.multiplier, made.modulus, shape, rng.choice((2, 3)))

    def slot(self, code: int) -> int:
        if self.form == "xor":
            return code ^ self.key
        if self.form == "affine":
            return (code * self.multiplier + self.key) & 0xFF
        if self.form == "modulo":
            return code % self.modulus
        if self.form == "offset":
            return code - self.key
        return code

    def expression(self, kind: str) -> str:
        if self.form == "xor":
            return f"(unsigned)({kind} ^ 0x{self.key:02x})"
        if self.form == "affine":
            return f"((unsigned){kind} * {self.multiplier}u + {self.key}u) & 0xffu"
        if self.form == "modulo":
            return f"(unsigned){kind} % {self.modulus}u"
        if self.form == "offset":
            return f"(unsigned)({kind} - {self.key})"
        return f"(unsigned){kind}"


def _dispatch(
    parts: Parts,
    features: list[Feature],
    name: str,
    code_of: Callable[[str], str],
    kinds: KindMap,
    slots: dict[str, int],
) -> list[str]:
    style, rng = parts.style, parts.rng
    d, n = style.data, style.length
    args = {"plain": f"{d}, {n}", "context": f"&state, {d}, {n}", "record": "&rec"}[style.convention]
    order = list(features)
    rng.shuffle(order)
    computed = kinds.form != "direct" or kinds.shape != "cases"
    selector = "slot" if computed else "kind"

    def opening(function: str, parameters: str, state: str) -> list[str]:
        lines = [f"{function}({parameters}) {{"]
        if style.convention == "context":
            lines += [state]
        elif style.convention == "record":
            lines += [f"    struct {style.record_type} rec = {{kind, {d}, {n}}};"]
        return lines

    local_state = f"    static struct {style.context_type} state;"
    top = opening(f"void {name}", f"int kind, const uint8_t *{d}, size_t {n}", local_state)
    if computed:
        top += [f"    unsigned slot = {kinds.expression('kind')};"]

    def cases(chosen: list[Feature], on: str, value: Callable[[Feature], str]) -> list[str]:
        lines: list[str] = []
        if style.dispatch == "switch":
            lines += [f"    switch ({on}) {{"]
            for feature in chosen:
                lines += [f"    case {value(feature)}:", f"        {feature.function}({args});", "        break;"]
            lines += ["    default:", f'        {style.reject}("unknown record kind");', "    }"]
        else:
            for index, feature in enumerate(chosen):
                keyword = "if" if index == 0 else "} else if"
                lines += [f"    {keyword} ({on} == {value(feature)}) {{", f"        {feature.function}({args});"]
            lines += ["    } else {", f'        {style.reject}("unknown record kind");', "    }"]
        return lines

    if kinds.shape == "indexed":
        handler = parts.names.take("handler_fn")
        table = parts.names.constant(parts.names.prefix, rng.choice(("handlers", "routes", "actions")))
        signature = style.handler_signature(f"(*{handler})").replace("void (*", "typedef void (*", 1)
        by_slot = {slots[f.function]: f.function for f in features}
        size = max(by_slot) + 1
        cells = [by_slot.get(index, "NULL") for index in range(size)]
        rows = [", ".join(cells[at : at + 4]) + "," for at in range(0, size, 4)]
        return [
            f"{signature};",
            f"static const {handler} {table}[{size}] = {{",
            *[f"    {row}" for row in rows],
            "};",
            "",
            *top,
            f"    if (slot >= sizeof {table} / sizeof {table}[0] || {table}[slot] == NULL)",
            f'        {style.reject}("unknown record kind");',
            f"    {table}[slot]({args});",
            "}",
            "",
        ]
    if kinds.shape == "grouped":
        groups = kinds.groups
        members: dict[int, list[Feature]] = {}
        for feature in order:
            members.setdefault(slots[feature.function] % groups, []).append(feature)
        helpers: list[str] = []
        shared = ""
        if style.convention == "context":
            shared = parts.names.take(f"{name}_state")
            helpers += [f"static struct {style.context_type} {shared};", ""]
        group_names = {}
        for group in sorted(members):
            group_name = parts.names.take(f"{name}_{rng.choice(('group', 'class', 'family', 'bank'))}{group}")
            group_names[group] = group_name
            body = opening(f"static void {group_name}", f"unsigned sub, int kind, const uint8_t *{d}, size_t {n}", "")
            if style.convention == "context":
                body = [line for line in body if line]
                body += [f"    struct {style.context_type} *ctx_of_group = &{shared};"]
            group_cases = cases(members[group], "sub", lambda f: f"{slots[f.function] // groups}u")
            if style.convention == "context":
                group_cases = [line.replace("&state", "ctx_of_group") for line in group_cases]
            if style.convention != "record":
                body += ["    (void)kind;"]
            helpers += [*body, *group_cases, "}", ""]
        top = [line for line in top if "static struct" not in line and "struct " + style.record_type not in line]
        top += [f"    switch (slot % {groups}u) {{"]
        for group in sorted(members):
            top += [
                f"    case {group}:",
                f"        {group_names[group]}(slot / {groups}u, kind, {d}, {n});",
                "        return;",
            ]
        top += ["    }", f'    {style.reject}("unknown record kind");']
        return [*helpers, *top, "}", ""]
    if style.dispatch == "table":
        handler = parts.names.take("handler_fn")
        table = parts.names.constant(parts.names.prefix, "handlers")
        signature = style.handler_signature(f"(*{handler})").replace("void (*", "typedef void (*", 1)
        pairs = ", ".join(f"{{{code_of(f.function)}, {f.function}}}" for f in order)
        kind_type = "unsigned" if computed else "int"
        return [
            f"{signature};",
            f"static const struct {{ {kind_type} kind; {handler} fn; }} {table}[] = {{{pairs}}};",
            "",
            *top,
            f"    for (size_t i = 0; i < sizeof {table} / sizeof {table}[0]; i++) {{",
            f"        if ({table}[i].kind == {selector}) {{",
            f"            {table}[i].fn({args});",
            "            return;",
            "        }",
            "    }",
            f'    {style.reject}("unknown record kind");',
            "}",
            "",
        ]
    return [*top, *cases(order, selector, lambda f: code_of(f.function)), "}", ""]


def _main(parts: Parts, entry: str) -> tuple[list[str], str]:
    rng, style = parts.rng, parts.style
    buffer = rng.choice(("input", "buffer", "request", "message"))
    length = rng.choice(("n", "got", "size", "have"))
    if rng.random() < 0.5:
        read = [f"    size_t {length} = fread({buffer}, 1, sizeof {buffer}, stdin);"]
    else:
        read = [
            f"    size_t {length} = 0, chunk;",
            f"    while ({length} < sizeof {buffer}",
            f"           && (chunk = fread({buffer} + {length}, 1, sizeof {buffer} - {length}, stdin)) > 0)",
            f"        {length} += chunk;",
        ]
    finish = rng.choice(
        (
            [f'    {style.emit_value}("records", (unsigned long)handled);'],
            ['    printf("done %d\\n", handled);'],
            ["    fflush(stdout);"],
        )
    )
    return [
        "int main(void) {",
        f"    static uint8_t {buffer}[{MAX_INPUT}];",
        *read,
        f"    int handled = {entry}({buffer}, {length});",
        *finish,
        *(["    (void)handled;"] if "handled" not in finish[0] else []),
        "    return 0;",
        "}",
    ], length


def _header(
    parts: Parts,
    name: str,
    features: list[Feature],
    slots: dict[str, int],
    entry: str,
    dispatch: str,
    constant: dict[str, str],
) -> list[str]:
    style, rng = parts.style, parts.rng
    guard = re.sub(r"\W", "_", name.upper())
    lines = [
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <assert.h>",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "#include <stdio.h>",
        "#include <stdlib.h>",
        "#include <string.h>",
        "",
    ]
    if style.convention == "context":
        lines += [f"struct {style.context_type} {{", "    unsigned long handled;", "};", ""]
    elif style.convention == "record":
        lines += [
            f"struct {style.record_type} {{",
            "    int kind;",
            "    const uint8_t *data;",
            "    size_t len;",
            "};",
            "",
        ]
    if style.codes == "define":
        lines += [f"#define {constant[f.function]} 0x{slots[f.function]:02x}" for f in features] + [""]
    elif style.codes == "enum":
        lines += ["enum {"] + [f"    {constant[f.function]} = 0x{slots[f.function]:02x}," for f in features]
        lines += ["};", ""]
    prototypes = [*core_prototypes(style), *parts.library.prototypes()]
    prototypes += [f"{style.handler_signature(f.function)};" for f in features]
    prototypes += [
        f"void {dispatch}(int kind, const uint8_t *{style.data}, size_t {style.length});",
        f"int {entry}(const uint8_t *in, size_t n);",
    ]
    if rng.random() < 0.5:
        prototypes.sort()
    return [*lines, *prototypes, "", f"#endif /* {guard} */"]


# Patches ------------------------------------------------------------------------------------------------


def unified_diff(before: dict[str, str], after: dict[str, str]) -> str:
    """A unified diff (``patch -p1``) from ``before`` to ``after``, file by file."""
    out: list[str] = []
    for name in sorted(after):
        if after[name] == before.get(name):
            continue
        out += difflib.unified_diff(
            before[name].splitlines(keepends=True),
            after[name].splitlines(keepends=True),
            fromfile=f"a/{name}",
            tofile=f"b/{name}",
        )
    return "".join(out)


def replace_body(text: str, function: str, body: list[str]) -> str:
    """``text`` with ``function``'s body replaced by ``body`` (the signature kept)."""
    lines = text.split("\n")
    start = next(
        i for i, line in enumerate(lines) if re.match(rf"^\w[\w\s\*]*\b{function}\(", line) and line.endswith("{")
    )
    end = next(i for i in range(start + 1, len(lines)) if lines[i] == "}")
    return "\n".join([*lines[: start + 1], *body, *lines[end:]])


def before_function(text: str, function: str, inserted: str) -> str:
    lines = text.split("\n")
    start = next(
        i for i, line in enumerate(lines) if re.match(rf"^\w[\w\s\*]*\b{function}\(", line) and line.endswith("{")
    )
    return "\n".join([*lines[:start], inserted, *lines[start:]])


def after_line(text: str, pattern: str, inserted: list[str]) -> str:
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if re.search(pattern, line))
    return "\n".join([*lines[: at + 1], *inserted, *lines[at + 1 :]])


def before_line(text: str, pattern: str, inserted: list[str]) -> str:
    lines = text.split("\n")
    at = next(i for i, line in enumerate(lines) if re.search(pattern, line))
    return "\n".join([*lines[:at], *inserted, *lines[at:]])
