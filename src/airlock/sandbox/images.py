"""Images without a container engine: OCI and ``docker save`` archives unpacked into a content-addressed store.

An air-gapped lab carries images in as files. :meth:`ImageStore.import_archive` reads an OCI image layout archive
(``index.json``, ``blobs/sha256/...``) or a ``docker save`` archive (``manifest.json``), checks every blob against
its digest (OCI: manifest, config and each layer as stored; both: each layer's uncompressed digest against the
config's ``rootfs.diff_ids``), and applies the layers in order into a root filesystem, honouring whiteouts. A
sandbox then runs on that root read-only, with the same bounded writable places as on the host's ``/usr``
(:mod:`.bwrap`).

What an unprivileged bubblewrap sandbox cannot reproduce is refused or collapsed, never half-done: device nodes in
a layer are skipped (a sandbox has its own minimal ``/dev``), setuid and setgid bits are dropped (no privilege can
be gained inside anyway), and since a sandbox maps one user, the owner's permissions are given to everyone (a
service running as the image's own user can read its files). A path that would leave the root (``..``, an absolute
link target used as a directory) is an error naming the layer.

Layout under the store's root: ``<hex of the manifest digest>/rootfs`` and ``image.json`` (names, config, layers).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from airlock.sandbox.errors import SandboxConfigError

DEFAULT_ROOT_STORE = "/var/lib/airlock/images"
"""Where images are kept by default when Airlock runs as root (see :meth:`Image.check_reachable`)."""
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
CHUNK = 1 << 20
LAYER_MEDIA_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": None,
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
}


class ImageError(SandboxConfigError):
    """An image archive that cannot be imported, or a reference to no image in the store."""


@dataclass(frozen=True)
class ImageConfig:
    """What an image says about running it (its OCI config's ``config``)."""

    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    working_dir: str = ""
    user: str = ""

    @classmethod
    def from_oci(cls, config: dict[str, Any]) -> ImageConfig:
        run = config.get("config") or {}
        env = dict(item.split("=", 1) for item in run.get("Env") or [] if "=" in item)
        return cls(
            env=env,
            entrypoint=list(run.get("Entrypoint") or []),
            cmd=list(run.get("Cmd") or []),
            working_dir=str(run.get("WorkingDir") or ""),
            user=str(run.get("User") or ""),
        )


@dataclass(frozen=True)
class Image:
    digest: str
    """``sha256:...`` of the image's manifest (OCI) or config (``docker save``): what a run's plan pins."""
    names: list[str]
    rootfs: Path
    config: ImageConfig
    layers: list[str]
    """The layers' uncompressed digests, lowest first."""
    size: int
    """Bytes of the unpacked root filesystem."""

    @property
    def short(self) -> str:
        return self.digest.removeprefix("sha256:")[:12]

    def check_reachable(self) -> None:
        """Refuse an image that a sandbox started as root could not mount: such a sandbox runs as a user of its own,
        which must be able to pass through every directory above the image's root."""
        for directory in [self.rootfs, *self.rootfs.parents]:
            if not directory.stat().st_mode & stat.S_IXOTH:
                raise ImageError(
                    f"The image store is inside {directory}, which other users cannot pass through, and sandboxes run "
                    "as users of their own: keep images where every user may pass (AIRLOCK_IMAGES, by default "
                    f"{DEFAULT_ROOT_STORE} for root)."
                )


class ImageStore:
    """Images unpacked under ``root``, each in a directory named by its digest."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def images(self) -> list[Image]:
        if not self.root.is_dir():
            return []
        found = [self._load(entry) for entry in sorted(self.root.iterdir()) if (entry / "image.json").is_file()]
        return sorted(found, key=lambda image: (image.names or ["~"], image.digest))

    def resolve(self, reference: str) -> Image:
        """The image a reference names: a name (``toolbox`` or ``toolbox:latest``), a digest, or a digest's prefix."""
        wanted = reference.removeprefix("sha256:")
        images = self.images()
        by_name = [image for image in images if reference in image.names or f"{reference}:latest" in image.names]
        by_digest = [image for image in images if len(wanted) >= 6 and image.digest[7:].startswith(wanted)]
        matches = by_name or by_digest
        if len(matches) == 1:
            return matches[0]
        if not matches:
            known = ", ".join(name for image in images for name in image.names) or "none yet"
            raise ImageError(
                f"There is no image {reference!r} in {self.root} (images: {known}); import one with "
                "airlock images import FILE."
            )
        raise ImageError(f"{reference!r} names {len(matches)} images; give more of the digest.")

    def remove(self, reference: str) -> Image:
        image = self.resolve(reference)
        doomed = image.rootfs.parent.with_name(f".removing-{image.rootfs.parent.name}")
        image.rootfs.parent.rename(doomed)
        _remove_tree(doomed)
        return image

    def tag(self, reference: str, name: str) -> Image:
        """Add ``name`` (``:latest`` where it has no tag) to the image ``reference`` names."""
        if not name or any(c.isspace() for c in name) or name.startswith("sha256:"):
            raise ImageError(f"{name!r} cannot name an image: use letters, digits and . _ - / : (no spaces).")
        image = self.resolve(reference)
        return self._add_names(self.root / image.digest.removeprefix("sha256:"), [_with_tag(name)])

    def import_archive(self, archive: Path, *, name: str | None = None) -> Image:
        """Import an OCI or ``docker save`` archive; importing one already there only adds ``name`` to it."""
        try:
            with tarfile.open(archive, "r:*") as bundle:
                members = {_normalised(member.name): member for member in bundle.getmembers()}
                if "index.json" in members and "oci-layout" in members:
                    manifest_digest, config, layers, names = _read_oci(bundle, members)
                elif "manifest.json" in members:
                    manifest_digest, config, layers, names = _read_docker(bundle, members)
                else:
                    raise ImageError(
                        f"{archive} is neither an OCI image layout (index.json) nor a docker save archive "
                        "(manifest.json)."
                    )
                if name:
                    names = [*names, _with_tag(name)]
                target = self.root / manifest_digest.removeprefix("sha256:")
                if (target / "image.json").is_file():
                    return self._add_names(target, names)
                self._unpack(bundle, target, manifest_digest, config, layers, names)
                return self._add_names(target, names)
        except (tarfile.TarError, OSError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise ImageError(f"{archive} cannot be read as an image archive ({error}).") from error
        except (KeyError, ValueError, TypeError) as error:
            raise ImageError(f"{archive} is not a well-formed image archive ({error}).") from error

    def _unpack(
        self,
        bundle: tarfile.TarFile,
        target: Path,
        digest: str,
        config: dict[str, Any],
        layers: list[tuple[str, tarfile.TarInfo, str | None, str | None]],
        names: list[str],
    ) -> Image:
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        if len(diff_ids) != len(layers):
            raise ImageError(f"the image's config lists {len(diff_ids)} layers and its manifest {len(layers)}.")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o755)
        staging = Path(tempfile.mkdtemp(prefix=".importing-", dir=self.root))
        try:
            rootfs = staging / "rootfs"
            rootfs.mkdir()
            for (label, member, compression, stored_digest), diff_id in zip(layers, diff_ids, strict=True):
                _apply_layer(bundle, member, label, compression, stored_digest, diff_id, rootfs)
            prepare_root(rootfs)
            size = sum(
                entry.stat().st_size for entry in rootfs.rglob("*") if entry.is_file() and not entry.is_symlink()
            )
            record = {
                "digest": digest,
                "names": sorted(set(names)),
                "config": config,
                "layers": diff_ids,
                "size": size,
            }
            (staging / "image.json").write_text(json.dumps(record, indent=2))
            staging.chmod(0o755)
            os.rename(staging, target)
        except BaseException:
            _remove_tree(staging)
            raise
        return self._load(target)

    def _add_names(self, directory: Path, names: list[str]) -> Image:
        """Give the image in ``directory`` ``names``, taking them from any other image: a name names one image."""
        for other in self.images():
            other_directory = other.rootfs.parent
            if other_directory != directory and set(other.names) & set(names):
                self._write_names(other_directory, sorted(set(other.names) - set(names)))
        record = json.loads((directory / "image.json").read_text())
        self._write_names(directory, sorted({*record["names"], *names}))
        return self._load(directory)

    @staticmethod
    def _write_names(directory: Path, names: list[str]) -> None:
        record = json.loads((directory / "image.json").read_text())
        record["names"] = names
        temporary = directory / "image.json.new"
        temporary.write_text(json.dumps(record, indent=2))
        os.replace(temporary, directory / "image.json")

    @staticmethod
    def _load(directory: Path) -> Image:
        record = json.loads((directory / "image.json").read_text())
        return Image(
            digest=record["digest"],
            names=list(record["names"]),
            rootfs=directory / "rootfs",
            config=ImageConfig.from_oci(record["config"]),
            layers=list(record["layers"]),
            size=int(record["size"]),
        )


MOUNT_POINTS = ("work", "tmp", "var/tmp", "run", "proc", "dev", "etc")
ETC_OVERLAID = ("hosts", "hostname", "resolv.conf", "nsswitch.conf", "passwd", "group")
"""Files of an image's /etc that a sandbox replaces with its own (its names, its accounts)."""


def prepare_root(rootfs: Path) -> None:
    """Make the mount points a sandbox needs in an image's root (it is mounted read-only, so bwrap cannot): the
    directories of the bounded writable places, and plain files where the sandbox lays its own /etc files (a link
    there, to /run say, would send the mount elsewhere)."""
    for name in MOUNT_POINTS:
        path = _inside(rootfs, name, "the image")
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            _remove_path(path)
        path.mkdir(parents=True, exist_ok=True)
    for name in ETC_OVERLAID:
        path = rootfs / "etc" / name
        if path.is_symlink() or path.is_dir():
            _remove_path(path)
        if not path.exists():
            path.touch(0o644)


# Reading the two archive formats ----------------------------------------------------------------------------


def _with_tag(name: str) -> str:
    return name if ":" in name.rpartition("/")[2] else f"{name}:latest"


def _normalised(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


def _read_json(bundle: tarfile.TarFile, member: tarfile.TarInfo, digest: str | None = None) -> Any:
    data = _read(bundle, member)
    if digest is not None:
        _check_digest(data, digest, member.name)
    return json.loads(data)


def _read(bundle: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = bundle.extractfile(member)
    if stream is None:
        raise ImageError(f"{member.name} in the archive is not a file.")
    with stream:
        return stream.read()


def _check_digest(data: bytes, digest: str, what: str) -> None:
    algorithm, _, expected = digest.partition(":")
    if algorithm != "sha256":
        raise ImageError(f"{what} is named by a {algorithm or 'missing'} digest; only sha256 is accepted.")
    if hashlib.sha256(data).hexdigest() != expected:
        raise ImageError(f"{what} does not match its digest {digest}: the archive is damaged or was altered.")


def _blob(members: dict[str, tarfile.TarInfo], digest: str) -> tarfile.TarInfo:
    algorithm, _, hexdigest = digest.partition(":")
    member = members.get(f"blobs/{algorithm}/{hexdigest}")
    if member is None:
        raise ImageError(f"the archive lacks the blob {digest}.")
    return member


def _read_oci(
    bundle: tarfile.TarFile, members: dict[str, tarfile.TarInfo]
) -> tuple[str, dict[str, Any], list[tuple[str, tarfile.TarInfo, str | None, str | None]], list[str]]:
    index = _read_json(bundle, members["index.json"])
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise ImageError(f"the archive holds {len(manifests)} images; import archives of one image.")
    descriptor = manifests[0]
    manifest = _read_json(bundle, _blob(members, descriptor["digest"]), descriptor["digest"])
    config_descriptor = manifest["config"]
    config = _read_json(bundle, _blob(members, config_descriptor["digest"]), config_descriptor["digest"])
    layers = []
    for layer in manifest["layers"]:
        media_type = layer.get("mediaType", "application/vnd.oci.image.layer.v1.tar+gzip")
        if media_type not in LAYER_MEDIA_TYPES:
            raise ImageError(f"a layer of media type {media_type} cannot be imported.")
        compression = LAYER_MEDIA_TYPES[media_type]
        if compression == "zstd":
            raise ImageError("zstd-compressed layers are not supported; save the image with gzip layers.")
        layers.append((layer["digest"], _blob(members, layer["digest"]), compression, layer["digest"]))
    names = [
        str(name) for name in [(descriptor.get("annotations") or {}).get("org.opencontainers.image.ref.name")] if name
    ]
    return descriptor["digest"], config, layers, names


def _read_docker(
    bundle: tarfile.TarFile, members: dict[str, tarfile.TarInfo]
) -> tuple[str, dict[str, Any], list[tuple[str, tarfile.TarInfo, str | None, str | None]], list[str]]:
    entries = _read_json(bundle, members["manifest.json"])
    if len(entries) != 1:
        raise ImageError(f"the archive holds {len(entries)} images; import archives of one image.")
    entry = entries[0]
    config_path = _normalised(entry["Config"])
    config_bytes = _read(bundle, members[config_path])
    digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    named = PurePosixPath(config_path).name.removesuffix(".json")
    if len(named) == 64 and named != digest[7:]:
        raise ImageError(f"the image config {config_path} does not match its name: the archive was altered.")
    config: dict[str, Any] = json.loads(config_bytes)
    layers: list[tuple[str, tarfile.TarInfo, str | None, str | None]] = []
    for path in entry["Layers"]:
        member = members.get(_normalised(path))
        if member is None:
            raise ImageError(f"the archive lacks the layer {path}.")
        layers.append((path, member, "auto", None))
    return digest, config, layers, [str(tag) for tag in entry.get("RepoTags") or []]


# Applying a layer ------------------------------------------------------------------------------------------


class _Hashing(io.RawIOBase):
    """A reader that hashes what passes through it."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


def _apply_layer(
    bundle: tarfile.TarFile,
    member: tarfile.TarInfo,
    label: str,
    compression: str | None,
    stored_digest: str | None,
    diff_id: str,
    rootfs: Path,
) -> None:
    stored = bundle.extractfile(member)
    if stored is None:
        raise ImageError(f"the layer {label} is not a file in the archive.")
    with stored:
        stored_hash = _Hashing(stored)
        buffered = io.BufferedReader(stored_hash, CHUNK)
        raw: IO[bytes] = buffered
        if compression == "gzip" or (compression == "auto" and buffered.peek(2)[:2] == b"\x1f\x8b"):
            raw = gzip.GzipFile(fileobj=buffered)  # type: ignore[assignment]
        plain = _Hashing(raw)
        try:
            with tarfile.open(fileobj=io.BufferedReader(plain, CHUNK), mode="r|") as layer:
                for entry in layer:
                    _apply_entry(layer, entry, rootfs, label)
            # Drain what the tar reader left (padding), so the digests cover the whole stream.
            while plain.read(CHUNK):
                pass
            while stored_hash.read(CHUNK):
                pass
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise ImageError(f"the layer {label} is damaged or was altered ({error}).") from error
    if stored_digest is not None and "sha256:" + stored_hash.digest.hexdigest() != stored_digest:
        raise ImageError(f"the layer {label} does not match its digest: it is damaged or was altered.")
    if "sha256:" + plain.digest.hexdigest() != diff_id:
        raise ImageError(f"the layer {label} does not match the digest its image names ({diff_id}).")


def _apply_entry(layer: tarfile.TarFile, entry: tarfile.TarInfo, rootfs: Path, label: str) -> None:
    name = _normalised(entry.name)
    if name in ("", "."):
        return
    if name.startswith("../") or name == ".." or os.path.isabs(name):
        raise ImageError(f"the layer {label} writes outside the image's root ({entry.name}).")
    parent, base = posixpath.split(name)
    directory = _inside(rootfs, parent, label)
    if base == OPAQUE:
        for child in list(directory.iterdir()) if directory.is_dir() else []:
            _remove_path(child)
        return
    if base.startswith(WHITEOUT):
        _remove_path(directory / base[len(WHITEOUT) :])
        return
    path = directory / base
    if entry.isdir():
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            _remove_path(path)
        path.mkdir(exist_ok=True)
        path.chmod(_mode(entry.mode, directory=True))
        return
    _remove_path(path)
    if entry.issym():
        os.symlink(entry.linkname, path)
    elif entry.islnk():
        source = _inside(rootfs, _normalised(entry.linkname), label)
        if not source.is_file() or source.is_symlink():
            raise ImageError(f"the layer {label} links {entry.name} to {entry.linkname}, which is not a file.")
        os.link(source, path)
    elif entry.isfile():
        stream = layer.extractfile(entry)
        assert stream is not None
        with stream, open(path, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK)
        path.chmod(_mode(entry.mode, directory=False))
    elif entry.isfifo():
        os.mkfifo(path, _mode(entry.mode, directory=False))
    # Device nodes are skipped: a sandbox has its own minimal /dev, and an unprivileged import cannot make them.


def _inside(rootfs: Path, relative: str, label: str) -> Path:
    """``relative`` under ``rootfs``, refusing any path whose directories (links followed inside the root) leave it."""
    current = rootfs
    for part in PurePosixPath(relative).parts:
        if part in ("", "."):
            continue
        if part == "..":
            raise ImageError(f"the layer {label} names a path outside the image's root ({relative}).")
        current = current / part
        hops = 0
        while current.is_symlink():
            hops += 1
            if hops > 40:
                raise ImageError(f"the layer {label} has a symbolic link loop at {relative}.")
            target = os.readlink(current)
            resolved = (
                PurePosixPath(target)
                if target.startswith("/")
                else PurePosixPath(current.parent.relative_to(rootfs).as_posix(), target)
            )
            normalised = posixpath.normpath(resolved.as_posix().lstrip("/"))
            if normalised.startswith(".."):
                raise ImageError(f"the layer {label} reaches outside the image's root through {relative}.")
            current = rootfs / normalised
    return current


def _mode(mode: int, *, directory: bool) -> int:
    """Permissions as one mapped user sees them: the owner's reading and running given to everyone (never writing:
    the store is on the host's disk), no setuid, setgid or sticky bit; directories stay the importer's to fill."""
    owner = (mode >> 6) & 0o7
    shared = owner & 0o5
    return (owner << 6) | (shared << 3) | shared | (0o700 if directory else 0)


def _remove_path(path: Path) -> None:
    if path.is_symlink() or path.is_file() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        _remove_tree(path)


def _remove_tree(path: Path) -> None:
    def make_writable(function: Any, name: str, _: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), 0o700)
            os.chmod(name, 0o700)
        function(name)

    shutil.rmtree(path, onerror=make_writable)


def iter_files(rootfs: Path) -> Iterator[Path]:
    """Every regular file of an unpacked image (for sizes and tests)."""
    for entry in rootfs.rglob("*"):
        if entry.is_file() and not entry.is_symlink():
            yield entry


# Writing an archive ----------------------------------------------------------------------------------------


def write_oci_archive(
    rootfs_tar: Path,
    out: Path,
    *,
    name: str,
    env: dict[str, str] | None = None,
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    working_dir: str = "",
    architecture: str = "amd64",
) -> str:
    """Write an OCI image layout archive of one layer (``rootfs_tar``, an uncompressed tar of a root filesystem)
    to ``out``; return the image's manifest digest. What ``airlock images build`` makes, and what any OCI tool reads."""
    with tempfile.TemporaryDirectory(prefix="airlock-oci-") as scratch:
        layer_path = Path(scratch) / "layer.tar.gz"
        plain = hashlib.sha256()
        # mtime 0: the same root filesystem gives the same layer, and so the same digest.
        with (
            open(rootfs_tar, "rb") as source,
            open(layer_path, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as compressed,
        ):
            while chunk := source.read(CHUNK):
                plain.update(chunk)
                compressed.write(chunk)
        layer_digest = "sha256:" + _file_digest(layer_path)
        config = {
            "architecture": architecture,
            "os": "linux",
            "config": {
                "Env": [f"{key}={value}" for key, value in (env or {"PATH": DEFAULT_PATH}).items()],
                **({"Entrypoint": entrypoint} if entrypoint else {}),
                **({"Cmd": cmd} if cmd else {}),
                **({"WorkingDir": working_dir} if working_dir else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + plain.hexdigest()]},
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config_bytes),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest,
                    "size": layer_path.stat().st_size,
                }
            ],
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
        manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": manifest_digest,
                    "size": len(manifest_bytes),
                    "annotations": {"org.opencontainers.image.ref.name": name if ":" in name else f"{name}:latest"},
                }
            ],
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w") as archive:
            _add_bytes(archive, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
            _add_bytes(archive, "index.json", json.dumps(index, sort_keys=True).encode())
            _add_bytes(archive, f"blobs/sha256/{manifest_digest[7:]}", manifest_bytes)
            _add_bytes(archive, f"blobs/sha256/{config_digest[7:]}", config_bytes)
            archive.add(layer_path, arcname=f"blobs/sha256/{layer_digest[7:]}")
    return manifest_digest


DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    entry = tarfile.TarInfo(name)
    entry.size = len(data)
    entry.mode = 0o644
    archive.addfile(entry, io.BytesIO(data))


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
