"""Laying a generated C program out over files: header, ``main.c``, the format's parser, features, helpers.

What varies between programs here: how many files the features are spread over and what they are called,
where the dispatcher lives, how it dispatches (a ``switch``, an ``if`` chain or a table of handlers), how the
record kinds are named (``#define``, ``enum`` or bare numbers), how ``main`` reads its input, and which
unused helpers (dead ends) ride along.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
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

    codes = fmt.codes
    constant = {f.function: names.constant("kind", f.function) for f in features}

    def code_of(function: str) -> str:
        return f"0x{codes[function]:02x}" if style.codes == "literal" else constant[function]

    dispatch_lines = _dispatch(parts, features, dispatch, code_of)

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
    header = SourceFile(header_name, _header(parts, header_name, features, fmt, entry.function, dispatch, constant))
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


def _dispatch(parts: Parts, features: list[Feature], name: str, code_of: object) -> list[str]:
    style, rng = parts.style, parts.rng
    assert callable(code_of)
    d, n = style.data, style.length
    args = {"plain": f"{d}, {n}", "context": f"&state, {d}, {n}", "record": "&rec"}[style.convention]
    lines = [f"void {name}(int kind, const uint8_t *{d}, size_t {n}) {{"]
    if style.convention == "context":
        lines += [f"    static struct {style.context_type} state;"]
    elif style.convention == "record":
        lines += [f"    struct {style.record_type} rec = {{kind, {d}, {n}}};"]
    order = list(features)
    rng.shuffle(order)
    if style.dispatch == "switch":
        lines += ["    switch (kind) {"]
        for feature in order:
            lines += [
                f"    case {code_of(feature.function)}:",
                f"        {feature.function}({args});",
                "        break;",
            ]
        lines += ["    default:", f'        {style.reject}("unknown record kind");', "    }"]
    elif style.dispatch == "chain":
        for index, feature in enumerate(order):
            keyword = "if" if index == 0 else "} else if"
            lines += [f"    {keyword} (kind == {code_of(feature.function)}) {{", f"        {feature.function}({args});"]
        lines += ["    } else {", f'        {style.reject}("unknown record kind");', "    }"]
    else:
        handler = parts.names.take("handler_fn")
        table = parts.names.constant(parts.names.prefix, "handlers")
        signature = style.handler_signature(f"(*{handler})").replace("void (*", "typedef void (*", 1)
        rows = ", ".join(f"{{{code_of(f.function)}, {f.function}}}" for f in order)
        lines = [
            f"{signature};",
            f"static const struct {{ int kind; {handler} fn; }} {table}[] = {{{rows}}};",
            "",
            *lines,
            f"    for (size_t i = 0; i < sizeof {table} / sizeof {table}[0]; i++) {{",
            f"        if ({table}[i].kind == kind) {{",
            f"            {table}[i].fn({args});",
            "            return;",
            "        }",
            "    }",
            f'    {style.reject}("unknown record kind");',
        ]
    return [*lines, "}", ""]


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
    fmt: Format,
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
        lines += [f"#define {constant[f.function]} 0x{fmt.codes[f.function]:02x}" for f in features] + [""]
    elif style.codes == "enum":
        lines += ["enum {"] + [f"    {constant[f.function]} = 0x{fmt.codes[f.function]:02x}," for f in features]
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
