"""The local model's probe: before a run, a child process loads the weights and generates one token, and what
kills it (a corrupt file, a native library that does not load, a crash inside llama.cpp) comes back as one
sentence saying what failed and what to do, never as a dead worker."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from airlock.evals.models.gguf import LocalModelError, model_path
from airlock.evals.models.probe import probe_local_model

CRASHES = {
    # The constructor runs when llama-cpp-python loads the library: the child dies as a faulting build would.
    "SIGILL": "__builtin_trap();",  # ud2 on x86-64: an instruction the CPU refuses
    "SIGSEGV": "*(volatile int *)0 = 1;",
}


def native_library(directory: Path, body: str) -> Path:
    """A real shared library named like llama.cpp's, built by the real compiler, whose loading runs ``body``."""
    directory.mkdir()
    source = directory / "crash.c"
    source.write_text(f"__attribute__((constructor)) static void on_load(void) {{ {body} }}\n")
    gcc = shutil.which("gcc")
    assert gcc is not None
    subprocess.run([gcc, "-shared", "-fPIC", str(source), "-o", str(directory / "libllama.so")], check=True)
    return directory


def test_the_bundled_model_passes_its_probe_and_says_how_llama_cpp_was_built() -> None:
    report = probe_local_model(model_path("smollm2-135m"), name="airlock/smollm2-135m")
    assert report.system_info.startswith("CPU :")
    assert report.load_seconds > 0
    assert report.token_seconds > 0


def test_a_file_that_is_not_a_gguf_model_fails_with_llama_cpps_reason(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + bytes(range(256)) * 4)
    with pytest.raises(LocalModelError) as raised:
        probe_local_model(corrupt, name=f"airlock/{corrupt}")
    message = str(raised.value)
    assert f"llama.cpp cannot read {corrupt} as a GGUF model" in message
    assert "failed to read header" in message
    assert "\n" not in message


def test_a_truncated_copy_of_a_real_model_fails_to_load(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    with model_path("smollm2-135m").open("rb") as original:
        truncated.write_bytes(original.read(300_000))
    with pytest.raises(LocalModelError, match=r"cannot read .* as a GGUF model"):
        probe_local_model(truncated)


def test_a_native_library_that_cannot_load_is_named_with_the_variable_that_chose_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / "libllama.so").write_bytes(b"\x7fELF but not really a shared library")
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(broken))
    with pytest.raises(LocalModelError) as raised:
        probe_local_model(model_path("smollm2-135m"), name="airlock/smollm2-135m")
    message = str(raised.value)
    assert "llama.cpp's native library could not be loaded" in message
    assert f"LLAMA_CPP_LIB_PATH is set to {broken}" in message


@pytest.mark.skipif(shutil.which("gcc") is None, reason="building the crashing library needs gcc")
@pytest.mark.parametrize(
    ("signal_name", "words"),
    [
        ("SIGILL", "uses instructions this CPU does not execute"),
        ("SIGSEGV", "read memory it does not own"),
    ],
)
def test_a_crash_inside_llama_cpp_is_told_in_words_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signal_name: str, words: str
) -> None:
    monkeypatch.setenv("LLAMA_CPP_LIB_PATH", str(native_library(tmp_path / "lib", CRASHES[signal_name])))
    with pytest.raises(LocalModelError) as raised:
        probe_local_model(model_path("smollm2-135m"), name="airlock/smollm2-135m")
    message = str(raised.value)
    assert f"crashed in its check before the run ({signal_name})" in message
    assert words in message
    assert "make clean demo" in message
