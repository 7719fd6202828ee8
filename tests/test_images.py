"""Images without a container engine: built offline from Debian packages, carried in as OCI or docker save archives,
checked against their digests, unpacked safely, and run by sandboxes, services and agents alike."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.agent import react
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import includes
from inspect_ai.tool import bash
from inspect_ai.util import SandboxEnvironmentSpec

from airlock.evals.models.scripted import call, call_with
from airlock.sandbox import BwrapConfig, ServiceConfig, sample_sandboxes
from airlock.sandbox.images import ImageError, ImageStore

pytestmark = pytest.mark.anyio

AIRLOCK = str(Path(sys.executable).with_name("airlock"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def layer(entries: list[tuple[str, bytes | None, str | None]]) -> bytes:
    """A layer tar: (name, content of a file, or None for a directory) and, instead, a link target."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content, link in entries:
            entry = tarfile.TarInfo(name)
            if link is not None:
                entry.type, entry.linkname = tarfile.SYMTYPE, link
                archive.addfile(entry)
            elif content is None:
                entry.type, entry.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(entry)
            else:
                entry.size, entry.mode = len(content), 0o644
                archive.addfile(entry, io.BytesIO(content))
    return buffer.getvalue()


def oci_archive(path: Path, layers: list[bytes]) -> Path:
    """An OCI archive of uncompressed ``layers``, written by hand (as another tool would)."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layer_digests = [blob(data) for data in layers]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": layer_digests}}
    )
    manifest = {
        "schemaVersion": 2,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": blob(config.encode())},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d} for d in layer_digests],
    }
    index = {"schemaVersion": 2, "manifests": [{"digest": blob(json.dumps(manifest).encode())}]}
    with tarfile.open(path, "w") as archive:
        for name, data in [
            ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
            ("index.json", json.dumps(index).encode()),
        ]:
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
        for digest, data in blobs.items():
            entry = tarfile.TarInfo(f"blobs/sha256/{digest[7:]}")
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return path


def test_an_image_built_from_debian_packages_imports_with_its_names_and_its_programs(store: ImageStore) -> None:
    image = store.resolve("target")
    assert {"socat:latest", "target:latest"} <= set(image.names)
    assert (image.rootfs / "usr/bin/socat").is_file()
    assert store.resolve(image.digest[7:19]) == image
    assert oct((image.rootfs / "usr/bin/socat").stat().st_mode & 0o7777) == "0o755", "nobody may write the store"


def test_an_altered_archive_is_refused_and_nothing_is_kept(tmp_path: Path, socat_archive: Path) -> None:
    altered = tmp_path / "altered.tar"
    with tarfile.open(socat_archive) as original, tarfile.open(altered, "w") as copy:
        for member in original.getmembers():
            data = original.extractfile(member).read() if member.isfile() else b""  # type: ignore[union-attr]
            if member.name.startswith("blobs/") and member.size > 1_000_000:
                data = data[:-1] + bytes([data[-1] ^ 1])
            copy.addfile(member, io.BytesIO(data))
    images = ImageStore(tmp_path / "images")
    with pytest.raises(ImageError, match="damaged or was altered"):
        images.import_archive(altered)
    assert images.images() == []
    assert [entry.name for entry in (tmp_path / "images").iterdir()] == []


def test_a_docker_save_archive_imports_too(tmp_path: Path) -> None:
    rootfs = layer([("srv", None, None), ("srv/banner.txt", b"saved by docker\n", None)])
    config = json.dumps({"rootfs": {"diff_ids": ["sha256:" + hashlib.sha256(rootfs).hexdigest()]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["saved:1"], "Layers": ["abc/layer.tar"]}]).encode()
    archive = tmp_path / "saved.tar"
    with tarfile.open(archive, "w") as bundle:
        for name, data in [("manifest.json", manifest), (config_name, config), ("abc/layer.tar", rootfs)]:
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            bundle.addfile(entry, io.BytesIO(data))
    image = ImageStore(tmp_path / "images").import_archive(archive)
    assert image.names == ["saved:1"]
    assert (image.rootfs / "srv/banner.txt").read_text() == "saved by docker\n"


def test_layers_apply_in_order_with_whiteouts(tmp_path: Path) -> None:
    lower = layer(
        [("a", None, None), ("a/x", b"x", None), ("a/y", b"y", None), ("d", None, None), ("d/old", b"old", None)]
    )
    upper = layer([("a/.wh.x", b"", None), ("d/.wh..wh..opq", b"", None), ("d/new", b"new", None)])
    image = ImageStore(tmp_path / "images").import_archive(oci_archive(tmp_path / "two.tar", [lower, upper]))
    assert sorted(path.name for path in (image.rootfs / "a").iterdir()) == ["y"]
    assert sorted(path.name for path in (image.rootfs / "d").iterdir()) == ["new"]


def test_a_layer_cannot_write_outside_the_images_root(tmp_path: Path) -> None:
    images = ImageStore(tmp_path / "images")
    escaping = layer([("../../escaped", b"out", None)])
    with pytest.raises(ImageError, match="outside the image's root"):
        images.import_archive(oci_archive(tmp_path / "dots.tar", [escaping]))
    through_a_link = [layer([("up", None, "../../../../../../tmp")]), layer([("up/escaped", b"out", None)])]
    with pytest.raises(ImageError, match="outside the image's root"):
        images.import_archive(oci_archive(tmp_path / "link.tar", through_a_link))
    # An absolute link is the image's own path: it leads into the image, never to the host's /etc.
    absolute = [layer([("etc", None, None), ("conf", None, "/etc")]), layer([("conf/hostname", b"inside\n", None)])]
    image = images.import_archive(oci_archive(tmp_path / "absolute.tar", absolute))
    assert (image.rootfs / "etc/hostname").read_text() == "inside\n"
    assert Path("/etc/hostname").read_text() != "inside\n"
    assert not (tmp_path / "escaped").exists()


async def test_a_service_and_an_agent_run_on_images_that_have_no_python(store: ImageStore) -> None:
    image = store.resolve("target")
    assert not (image.rootfs / "usr/bin/python3").exists(), "the exec server runs on the host's Python"
    config = BwrapConfig(
        network="private",
        image="target",
        image_store=str(store.root),
        services=[
            ServiceConfig(
                name="target",
                image="target",
                command=["socat", "TCP-LISTEN:9000,reuseaddr,fork", "SYSTEM:cat /work/flag.txt"],
                files={"flag.txt": "FLAG{on-its-own-image}\n"},
                port=9000,
            )
        ],
    )
    async with sample_sandboxes(config) as sandboxes:
        agent = sandboxes["default"]
        seen = await agent.exec(["sh", "-c", "grep PRETTY /etc/os-release; socat - TCP:target:9000"], timeout=20)
        assert "Debian GNU/Linux 12" in seen.stdout
        assert "FLAG{on-its-own-image}" in seen.stdout
        assert (await agent.exec(["cat", "/work/flag.txt"])).returncode != 0, "the service's files are its own"


def test_a_scripted_agent_on_an_image_exploits_a_service_on_its_image(store: ImageStore, tmp_path: Path) -> None:
    config = BwrapConfig(
        network="private",
        image="target",
        image_store=str(store.root),
        services=[
            ServiceConfig(
                name="target",
                image="target",
                command=[
                    "socat",
                    "TCP-LISTEN:7000,reuseaddr,fork",
                    'SYSTEM:read line; test "$line" = open && cat flag',
                ],
                files={"flag": "FLAG{socat-on-an-image}\n"},
                port=7000,
            )
        ],
    )
    steps = [
        call("bash", command="echo open | socat -t 5 - TCP:target:7000"),
        call_with("submit", lambda output: {"answer": output.strip()}),
    ]
    task = Task(
        dataset=[Sample(input="Get the flag from target:7000.", target="FLAG{socat-on-an-image}")],
        solver=react(tools=[bash(timeout=60)]),
        scorer=includes(),
        sandbox=SandboxEnvironmentSpec("bwrap", config),
    )
    (log,) = inspect_eval(
        task, model=get_model("scripted/exploit", steps=steps, memoize=False), log_dir=str(tmp_path), display="none"
    )
    assert log.status == "success", log.error
    assert log.samples is not None
    assert log.samples[0].scores is not None
    assert log.samples[0].scores["includes"].value == "C"


def test_an_image_a_sandbox_could_not_reach_is_refused_in_one_sentence(tmp_path: Path, socat_archive: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("only sandboxes started as root run as users of their own")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    image = ImageStore(private / "images").import_archive(socat_archive)
    with pytest.raises(ImageError, match="which other users cannot pass through"):
        image.check_reachable()


def test_the_images_command_imports_lists_and_removes(tmp_path: Path, socat_archive: Path) -> None:
    environment = {**os.environ, "AIRLOCK_HOME": str(tmp_path / "home"), "AIRLOCK_IMAGES": str(tmp_path / "images")}

    def airlock(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AIRLOCK, *args], env=environment, capture_output=True, text=True, check=False)

    imported = airlock("images", "import", str(socat_archive), "--name", "tools", "--json")
    assert imported.returncode == 0, imported.stderr
    digest = json.loads(imported.stdout)["digest"]
    assert "tools:latest" in airlock("images", "list").stdout
    missing = airlock("images", "remove", "nothing-of-that-name")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "There is no image 'nothing-of-that-name'" in missing.stderr
    assert airlock("images", "remove", digest[7:19]).returncode == 0
    assert "No images yet" in airlock("images", "list").stdout
