"""Command-line benchmark: how long a command takes to answer, as a ratio to starting Python at all.

Run: ``.venv/bin/python bench/cli.py [--runs 15]``. Each figure is the median wall-clock time of a fresh
process, measured in rounds that take every command in turn (so a busy moment of the machine falls on all of
them alike), and is printed with its ratio to ``python -c pass`` measured in the same rounds:

* ``airlock --help``; aim: under 10x;
* ``airlock review list`` on a fresh ``airlock init`` deployment (a temporary AIRLOCK_HOME);
* ``airlock sandbox exec -- true``; aim: under 15x;
* ``airlock challenges verify`` of a built instance (``challenges generate --family memory-corruption --seed
  1 --count 1``) with one of its near misses as the proof of concept, once the first verification has built
  and cached the binary; aim: under 25x.

The build cache is private to the run (a temporary XDG_CACHE_HOME), so nothing of the user's is touched.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AIMS = {"airlock --help": 10.0, "airlock sandbox exec -- true": 15.0, "airlock challenges verify": 25.0}


def run(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds ``command`` took from fork to exit, and the CPU seconds it (and the children it waited for)
    used; fails loudly unless it exits 0."""
    cpu_before = _children_cpu()
    began = time.perf_counter()
    finished = subprocess.run(command, env=env, capture_output=True, check=False, timeout=300)
    took = time.perf_counter() - began
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {finished.returncode}: {finished.stderr.decode()[-2000:]}")
    return took, _children_cpu() - cpu_before


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(runs: int) -> int:
    python = sys.executable
    airlock = str(Path(python).parent / "airlock")
    with tempfile.TemporaryDirectory(prefix="airlock-bench-cli-") as scratch:
        root = Path(scratch)
        env = {
            **os.environ,
            "AIRLOCK_HOME": str(root / "home"),
            "XDG_CACHE_HOME": str(root / "cache"),
        }
        env.pop("AIRLOCK_DATABASE_URL", None)
        env.pop("AIRLOCK_VERBOSE", None)
        run([airlock, "init"], env)
        run([airlock, "challenges", "generate", "--family", "memory-corruption", "--seed", "1", "--count", "1",
             "--out", str(root / "suite")], env)  # fmt: skip
        (instance,) = (path.parent for path in (root / "suite").glob("*/challenge.yaml"))
        near_miss = sorted((instance / "near_misses").iterdir())[0]
        verify = [airlock, "challenges", "verify", str(instance), "--poc", str(near_miss)]
        run(verify, env)  # the first verification builds the target and caches the binary

        commands = {
            "python -c pass": [python, "-c", "pass"],
            "airlock --help": [airlock, "--help"],
            "airlock review list": [airlock, "review", "list"],
            "airlock sandbox exec -- true": [airlock, "sandbox", "exec", "--", "true"],
            "airlock challenges verify": verify,
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                took, used = run(command, env)
                walls[name].append(took)
                cpus[name].append(used)

    wall = {name: statistics.median(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    load = os.getloadavg()[0]
    print(f"{datetime.date.today()}, {os.cpu_count()} CPUs, load {load:.1f}, median of {runs} runs each")
    # The aims are for wall-clock time, what a person waits for. CPU time is shown beside it because on a
    # busy machine it stays put while wall-clock time grows with everyone else's work.
    print(f"{'command':<30} {'wall ms':>8} {'ratio':>7} {'cpu ms':>8} {'ratio':>7}  aim (wall)")
    for name in commands:
        ratio = wall[name] / wall["python -c pass"]
        aim = AIMS.get(name)
        verdict = "" if aim is None else f"under {aim:.0f}x: {'met' if ratio < aim else 'NOT met'}"
        print(
            f"{name:<30} {wall[name] * 1000:8.1f} {ratio:6.1f}x {cpu[name] * 1000:8.1f} "
            f"{cpu[name] / cpu['python -c pass']:6.1f}x  {verdict}"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="Rounds of measurements (default 15).")
    sys.exit(main(parser.parse_args().runs))
