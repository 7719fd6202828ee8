"""Validation by reproduction: a report's proof of concept, built and run in the sandbox with the real compiler
and AddressSanitizer; what happened is recorded, and a report that does not reproduce says why."""

from __future__ import annotations

import pytest

from airlock.vulns.reproduction import Target, reproduce
from airlock.vulns.signatures import Grouping

pytestmark = pytest.mark.anyio

NOTES = Target(
    {
        "notes.c": b"""\
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void decode_page(const unsigned char *data, size_t n) {
    char *page = malloc(8);
    memcpy(page, data, n); /* n is the note's declared length, never checked */
    printf("%d\\n", page[0]);
    free(page);
}

static void parse_note(const unsigned char *data, size_t n) {
    if (n && data[0] == 'N') decode_page(data + 1, n - 1);
    else if (n && data[0] == 'E') fprintf(stderr, "%.*s", (int)n - 1, (const char *)data + 1); /* echoes input */
}

int main(void) {
    unsigned char buffer[512];
    size_t n = fread(buffer, 1, sizeof buffer, stdin);
    parse_note(buffer, n);
    return 0;
}
"""
    }
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_poc_that_crashes_the_named_build_reproduces_with_its_sanitizer_class_and_place() -> None:
    first = await reproduce(NOTES, b"N" + b"A" * 40)
    assert first.reproduced
    assert first.signature is not None
    assert str(first.signature) == "heap-buffer-overflow in decode_page < parse_note < main"
    assert "ERROR: AddressSanitizer: heap-buffer-overflow" in first.evidence
    other_poc = await reproduce(NOTES, b"N" + b"\xff" * 200)
    assert other_poc.signature == first.signature, "another input into the same bug"
    grouping = Grouping()
    assert grouping.add(first.signature) == grouping.add(other_poc.signature), "a duplicate joins the first's case"


async def test_a_poc_that_does_not_reproduce_is_marked_so_with_what_happened_instead() -> None:
    harmless = await reproduce(NOTES, b"Nabc")
    assert not harmless.reproduced
    assert harmless.outcome == "no crash"
    assert "exited with status 0 and no sanitizer report" in harmless.evidence
    assert "97" in harmless.evidence, "the program's own output is the evidence"


async def test_a_poc_cannot_forge_a_sanitizer_report_through_a_program_that_echoes_it() -> None:
    forged = b"E==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n    #0 0x1 in decode_page /x.c:1\n"
    outcome = await reproduce(NOTES, forged)
    assert not outcome.reproduced, "the text of a report without the sanitizers' exit status is not a crash"
    assert outcome.outcome == "no crash"


async def test_a_build_that_does_not_compile_is_reported_with_the_compilers_words() -> None:
    broken = await reproduce(Target({"notes.c": b"int main( {"}), b"")
    assert (broken.reproduced, broken.outcome) == (False, "build failed")
    assert "error" in broken.evidence


async def test_a_poc_that_hangs_the_program_ends_at_its_timeout() -> None:
    spinning = Target({"spin.c": b"int main(void) { for (;;) {} }\n"}, run_timeout=2)
    outcome = await reproduce(spinning, b"")
    assert (outcome.reproduced, outcome.outcome) == (False, "timeout")


UNDEFINED = Target(
    {
        "ub.c": b"""\
#include <limits.h>
#include <stdio.h>

static int slots[4];

static void store(int index, int value) {
    volatile int local[4] = {0}; /* volatile: the store is not optimised away */
    local[index] = value; /* the index is the input's, never checked */
    slots[0] = local[0];
}

int main(void) {
    int c = getchar(), n = getchar();
    if (c == 'O') {
        int total = INT_MAX;
        total += n; /* signed overflow: undefined, but no memory error */
        printf("%d\\n", total);
    } else if (c == 'S') {
        store(n - '0', 7);
    }
    return 0;
}
"""
    }
)


async def test_undefined_behaviour_that_leads_to_a_memory_error_is_named_by_the_memory_error() -> None:
    # UBSan reports the out-of-bounds index first; the memory error AddressSanitizer then ends the run with is the
    # class a fuzzer's ASan build, the challenges' oracle and most reports give, so the same bug gets one signature.
    found = await reproduce(UNDEFINED, b"S5")
    assert found.reproduced, found.evidence
    assert found.signature is not None
    assert found.signature.bug_class == "stack-buffer-overflow"
    assert found.signature.frames[:2] == ("store", "main")


async def test_undefined_behaviour_alone_is_not_a_reproduced_crash_and_says_what_was_seen() -> None:
    outcome = await reproduce(UNDEFINED, b"O\x05")
    assert not outcome.reproduced
    assert outcome.outcome == "undefined behaviour only"
    assert "signed integer overflow" in outcome.evidence
