"""The router's image, made from this machine's HAProxy without any registry.

Escadre's router is Debian's HAProxy. No registry is assumed to be reachable from the engine (air-gapped
hosts, CI), and ``debootstrap`` would cost ~30 s and ~120 MB, so the image is assembled on the client
instead: a root filesystem holding ``/usr/sbin/haproxy``, every shared library ``ldd`` lists for it (and
the dynamic loader), busybox with its applets (``sh``, ``nc``, ``mv`` — the router's diagnostics and the
Runtime API path for remote engines) and a minimal ``/etc/passwd``/``group``. The tar is streamed to the
engine with ``POST /images/create?fromSrc=-`` (``docker import``), so it works against a remote engine
just as well, and ``changes`` give the image the ``PATH`` and ``CMD`` an import does not have.

The tag carries HAProxy's version and a hash of the binaries (plus a recipe version), so upgrading the
``haproxy`` package yields a new image and an unchanged host finds its image with one ``inspect``.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from escadre.core.errors import MissingExtraError, UsageError
from escadre.drivers.base import LABEL_MANAGED, LABEL_ROLE
from escadre.drivers.engine.client import translate
from escadre.drivers.engine.router_config import RUN_DIR

REPOSITORY = "escadre/router"
HAPROXY_CANDIDATES = ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy")
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
# bump when the image layout changes, so existing hosts get a new tag (PATH and CMD are hashed too)
RECIPE = "1"
PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CMD = ("haproxy", "-W", "-db", "-f", f"{RUN_DIR}/haproxy.cfg")

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}
_LDD_LINE = re.compile(r"^\s*(?:\S+\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_VERSION = re.compile(r"HA-?Proxy version (\d+\.\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class RouterBinaries:
    """What the image is made of, found on this machine."""

    haproxy: Path
    busybox: Path
    version: str
    digest: str

    @property
    def ref(self) -> str:
        return f"{REPOSITORY}:{self.version}-{self.digest}"


_cache: dict[tuple[str, int, int], RouterBinaries] = {}
_lock = threading.Lock()


def _which(candidates: tuple[str, ...], name: str) -> Path | None:
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    found = shutil.which(name)
    return Path(found) if found else None


def find_binaries() -> RouterBinaries:
    """Locate HAProxy and busybox here; raise ``MissingExtraError`` saying what to install."""
    haproxy = _which(HAPROXY_CANDIDATES, "haproxy")
    if haproxy is None:
        raise MissingExtraError(
            "the Docker target's traffic router needs HAProxy on this machine (its image is built from it)",
            hint="apt-get install haproxy",
        )
    busybox = _which(BUSYBOX_CANDIDATES, "busybox")
    if busybox is None:
        raise MissingExtraError(
            "the Docker target's traffic router needs busybox on this machine (its image is built from it)",
            hint="apt-get install busybox-static",
        )
    st = haproxy.stat()
    key = (str(haproxy), st.st_mtime_ns, st.st_size)
    with _lock:
        if key in _cache:
            return _cache[key]
    proc = subprocess.run([str(haproxy), "-v"], capture_output=True, text=True, check=False)
    m = _VERSION.search(proc.stdout + proc.stderr)
    if proc.returncode != 0 or m is None:
        raise UsageError(
            f"{haproxy} -v did not print a HAProxy version: {(proc.stderr or proc.stdout).strip()[:200]}",
            hint="reinstall it: apt-get install --reinstall haproxy",
        )
    digest = hashlib.sha256("\n".join((RECIPE, PATH_ENV, *CMD)).encode())
    for path in (haproxy, busybox):
        digest.update(path.read_bytes())
    found = RouterBinaries(haproxy, busybox, m.group(1), digest.hexdigest()[:12])
    with _lock:
        _cache[key] = found
    return found


def shared_libraries(binary: Path) -> list[Path]:
    """The shared libraries (and the dynamic loader) ``ldd`` says ``binary`` loads."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UsageError(f"ldd {binary} failed: {(proc.stderr or proc.stdout).strip()[:200]}")
    libs: list[Path] = []
    for line in proc.stdout.splitlines():
        if "not found" in line:
            raise UsageError(
                f"{binary} needs a library that is missing here: {line.strip()}",
                hint="reinstall it: apt-get install --reinstall haproxy",
            )
        m = _LDD_LINE.match(line)
        if m:
            libs.append(Path(m.group(1)))
    return libs


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, source: Path, mode: int = 0o755) -> None:
    """``source``'s content (symlinks followed) stored as a regular file at ``name``."""
    real = source.resolve()
    info = tarfile.TarInfo(name.lstrip("/"))
    info.size = real.stat().st_size
    info.mode = mode
    with real.open("rb") as fh:
        tar.addfile(info, fh)


def _add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def write_rootfs(binaries: RouterBinaries, out: Path) -> None:
    """Write the router's root filesystem as a tar to ``out``."""
    applets = subprocess.run(
        [str(binaries.busybox), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    dirs = ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "etc/haproxy", "run", RUN_DIR.lstrip("/"), "var"]
    dirs += ["var/lib", "var/lib/haproxy", "proc", "sys", "dev", "root"]
    libs = shared_libraries(binaries.haproxy)
    with tarfile.open(out, "w") as tar:
        for d in dirs:
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        for lib in libs:
            parents = [p for p in reversed(lib.parents) if str(p) != "/"]
            for parent in parents:
                if str(parent).lstrip("/") not in dirs:
                    dirs.append(str(parent).lstrip("/"))
                    _add_dir(tar, str(parent))
            _add_file(tar, str(lib), lib)
        _add_file(tar, "usr/sbin/haproxy", binaries.haproxy)
        _add_file(tar, "bin/busybox", binaries.busybox)
        for applet in applets:
            if applet != "busybox":
                _add_link(tar, f"bin/{applet}", "busybox")
        _add_bytes(
            tar,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nhaproxy:x:100:101::/var/lib/haproxy:/bin/false\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        _add_bytes(tar, "etc/group", b"root:x:0:\nhaproxy:x:101:\nnogroup:x:65534:\n")
        _add_bytes(tar, "etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")


def ensure_router_image(api: docker.APIClient, target: str) -> str:
    """The router image's reference on the engine behind ``api``, imported first when it is missing.

    Costs one ``inspect`` when the image is there already; importing it takes ~0.3 s on a local engine
    (the rootfs is ~21 MB: HAProxy, its libraries, busybox).
    """
    binaries = find_binaries()
    ref = binaries.ref
    with translate(target, f"inspecting image {ref}"):
        try:
            api.inspect_image(ref)  # type: ignore[no-untyped-call]
            return ref
        except docker.errors.ImageNotFound:
            pass
    with translate(target, "asking the engine for its architecture"):
        engine_arch = str(api.version().get("Arch", ""))
    here = _ARCH.get(platform.machine(), platform.machine())
    if engine_arch and _ARCH.get(engine_arch, engine_arch) != here:
        raise UsageError(
            f"the router image is made from this machine's HAProxy ({here}) but target {target!r} runs {engine_arch}",
            hint="run escadre from a machine of the engine's architecture, or on the engine's host",
        )
    with tempfile.TemporaryDirectory(prefix="escadre-router-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        write_rootfs(binaries, rootfs)
        changes = [
            f"ENV PATH={PATH_ENV}",
            "CMD [" + ", ".join(f'"{part}"' for part in CMD) + "]",
            f'LABEL {LABEL_MANAGED}="true" {LABEL_ROLE}="router" escadre.haproxy-version="{binaries.version}"',
            "WORKDIR /var/lib/haproxy",
        ]
        repository, _, tag = ref.partition(":")
        with translate(target, f"importing the router image {ref}"):
            api.import_image(src=str(rootfs), repository=repository, tag=tag, changes=changes)
    return ref


__all__ = ["CMD", "REPOSITORY", "RouterBinaries", "ensure_router_image", "find_binaries"]
