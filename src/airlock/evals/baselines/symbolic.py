"""The solver baseline's search, run as its own process: ``python -m airlock.evals.baselines.symbolic``.

angr executes the program symbolically (no instruction of it runs natively) and z3, through claripy,
solves the path constraints. The input is symbolic from the start: standard input is a run of unknown
bytes of unknown length, given to the program by replacing ``fread`` and ``read`` on descriptor 0, so
the program's own length checks decide the length. The goal is generic and the same as the fuzzer's: the
first path that asks the environment for the oracle's nonce variable has reached the target state. No
knowledge of how the challenge was generated is used: no function names to avoid, no layout.

A separate process because angr cannot be interrupted cleanly from inside, holds the interpreter while it
works, and can use a great deal of memory: the parent gives it an address-space limit and kills it at the
end of its budget. It prints one JSON object: ``{"input": HEX}`` with the input found, or
``{"input": null, "reason": ...}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
from typing import Any

LOOP_BOUND = 64
"""Iterations of one loop a path may make before it is set aside: endless loops (decoys) end there."""
HEAP_BYTES = 64 << 10
"""Heap mapped at the start. angr's default maps 8 MiB, 2048 pages, and every branch copies (and every path set
aside releases) the whole page table: on the logic family that was most of the search's time (measured)."""
MAX_ACTIVE = 256
"""Paths steps at once; beyond this the newest are set aside, to keep memory bounded."""


def search(binary: str, nonce_variable: str, max_input: int, seconds: float) -> dict[str, Any]:
    # angr complains on import that its optional native emulator (unicorn) is absent; it is not wanted.
    logging.getLogger("angr").setLevel(logging.CRITICAL)
    # angr's types are partial and claripy's absent: both are used as untyped modules.
    angr: Any = importlib.import_module("angr")
    claripy: Any = importlib.import_module("claripy")

    started = time.monotonic()
    project = angr.Project(binary, auto_load_libs=False)
    # One variable per byte, as angr's own symbolic files have: constraints on different bytes stay apart, so
    # the solver works on small independent sets rather than on one 32768-bit variable.
    symbols = [claripy.BVS(f"stdin_{i}", 8) for i in range(max_input)]
    data = claripy.Concat(*symbols)
    length = claripy.BVS("length", project.arch.bits)

    def give_input(state: Any, buffer: Any, wanted: Any) -> Any:
        """The whole symbolic input, on the first read; end of file after it."""
        if state.globals.get("stdin_read"):
            return claripy.BVV(0, state.arch.bits)
        state.globals["stdin_read"] = True
        state.memory.store(buffer, data)
        state.solver.add(length.ULE(wanted))
        return length

    class FreadStdin(angr.SimProcedure):  # type: ignore[misc]
        def run(self, buffer: Any, size: Any, count: Any, stream: Any) -> Any:
            return give_input(self.state, buffer, size * count)

    class ReadStdin(angr.SimProcedure):  # type: ignore[misc]
        def run(self, descriptor: Any, buffer: Any, count: Any) -> Any:
            if self.state.solver.eval(descriptor) != 0:
                return claripy.BVV(-1, self.state.arch.bits)  # only standard input is the attacker's
            return give_input(self.state, buffer, count)

    class GetEnv(angr.SimProcedure):  # type: ignore[misc]
        """getenv: asking for the nonce is reaching the target state; everything else is unset."""

        def run(self, name: Any) -> Any:
            if self.state.mem[name].string.concrete == nonce_variable.encode():
                self.state.globals["reached"] = True
            return claripy.BVV(0, self.state.arch.bits)

    project.hook_symbol("fread", FreadStdin())
    project.hook_symbol("read", ReadStdin())
    project.hook_symbol("getenv", GetEnv())
    options = {angr.options.ZERO_FILL_UNCONSTRAINED_MEMORY, angr.options.ZERO_FILL_UNCONSTRAINED_REGISTERS}
    state = project.factory.full_init_state(add_options=options)
    # A small heap mapping (HEAP_BYTES); pages beyond it are still created when written, as any unmapped page is.
    state.register_plugin("heap", angr.SimHeapBrk(heap_size=HEAP_BYTES))
    state.solver.add(length.ULE(max_input))
    manager = project.factory.simulation_manager(state)
    manager.use_technique(angr.exploration_techniques.LocalLoopSeer(bound=LOOP_BOUND))
    steps = 0
    while manager.active and time.monotonic() - started < seconds:
        manager.explore(find=lambda candidate: bool(candidate.globals.get("reached")), n=1)
        steps += len(manager.active)
        if len(manager.active) > MAX_ACTIVE:
            manager.split(limit=MAX_ACTIVE, to_stash="deferred")
        if manager.stashes.get("found"):
            found = manager.stashes["found"][0]
            size = found.solver.eval(length)
            # Only the bytes the input has: z3 turns a 32768-bit value into text slowly.
            value = found.solver.eval(claripy.Concat(*symbols[:size]), cast_to=bytes) if size else b""
            return {"input": value.hex(), "states": steps, "seconds": round(time.monotonic() - started, 1)}
    why = "every path ended" if not manager.active else f"the {seconds:.0f} s budget ran out"
    return {"input": None, "reason": f"no path to the target state: {why}", "states": steps}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("binary")
    parser.add_argument("--nonce-variable", required=True)
    parser.add_argument("--max-input", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    arguments = parser.parse_args(argv)
    try:
        result = search(arguments.binary, arguments.nonce_variable, arguments.max_input, arguments.seconds)
    except MemoryError:
        result = {"input": None, "reason": "the symbolic execution ran out of memory"}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
