#!/usr/bin/env python3
"""Fetch the WordPress 6.5 / 6.6 / 6.7 test cores from the npm package
@wp-playground/wordpress-builds and unpack them into a cache directory.

Usage: python3 tests/wordpress/install-wordpress-builds.py [--check]

The cache is $IGNY8_WORDPRESS_BUILDS, else .cache/wordpress-builds/ at the top of
the repository (gitignored). It ends up holding one tree per core (wp-6.5/, wp-6.6/,
wp-6.7/), each with an .igny8-build.json naming where it came from and listing its
files. Idempotent: when every tree is there with all its files, nothing is
downloaded. Otherwise the package tarball (~151 MiB) is downloaded once, checked
against the integrity and shasum the registry gives (which must also equal the
pinned ones), and the missing trees are built from it; the tarball is then
deleted. --check only says whether the cache is complete (exit 0) or not (exit 1).

A tree is the core's zip (src/wordpress/wp-*.zip, checked against its pinned
sha256) plus the static files Playground's build moved out of it (CSS, JS,
images, fonts: public/wp-*/ in the same package, wp-content left out), put back
where they were. Without them a classic theme's pages warn that
wp-includes/css/classic-themes.min.css is missing and render unstyled. PHP files
stay as built (whitespace and comments stripped).

Python 3 standard library only; `npm view` is used for the registry metadata when
npm is installed (so npm's registry setting applies), else the public registry.

The package version is pinned. Its versions 0.9.4, 0.9.12 and 0.9.19 all ship
6.2-6.5 plus a "beta" and a "nightly" build, no final 6.6 or 6.7: 0.9.19 has the
newest of each (6.5.5, 6.6-RC3, 6.7-alpha-58716), so the "6.6" and "6.7" cores
are those pre-releases.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

PACKAGE = "@wp-playground/wordpress-builds"
VERSION = "0.9.19"
INTEGRITY = (
    "sha512-"
    "dlqvh/MJDpE5W68vgPPKUjpip6zMuBh59L3D18ZX+pdwurC4q4ydrTww/3sTMV69BBcoH6kF93YtAtujNC5Mpw=="
)
SHASUM = "806b280d2d501431c0aacc5b95f423e32f20c63b"
DEFAULT_REGISTRY = "https://registry.npmjs.org/"

# core -> (build name in the package, sha256 of its zip, the $wp_version inside):
# the zip is package/src/wordpress/wp-<name>.zip, its static files package/public/wp-<name>/.
CORES: dict[str, tuple[str, str, str]] = {
    "6.5": ("6.5", "264f163157658da2a4df8f9979f527fc806fd963039b4a14062ab99e8f44ecd9", "6.5.5"),
    "6.6": ("beta", "a15b7f491acb6f0bb3ed5668ef3bf4ffb54aafa2dac80d94c58a7a902a3ab390", "6.6-RC3"),
    "6.7": (
        "nightly",
        "bbe7265363155a5b48d0db614f5cddec3f3721ea85d51ab687ef9ae39a5ef28b",
        "6.7-alpha-58716",
    ),
}
MARKER = ".igny8-build.json"
REPO = Path(__file__).resolve().parent.parent.parent
CHUNK = 1 << 20


class InstallError(Exception):
    """Something the user must look at; the message says what."""


def cache_dir() -> Path:
    """Where the trees live (tests/support/wordpress.py looks in the same place)."""
    configured = os.environ.get("IGNY8_WORDPRESS_BUILDS")
    return Path(configured).resolve() if configured else REPO / ".cache" / "wordpress-builds"


def tree_ok(core: str, tree: Path) -> bool:
    """The tree was built for this core from the pinned package and has all its files."""
    try:
        marker = json.loads((tree / MARKER).read_text())
    except (OSError, ValueError):
        return False
    pinned = (f"{PACKAGE}@{VERSION}", CORES[core][1])
    if (marker.get("package"), marker.get("zip_sha256")) != pinned:
        return False
    files = marker.get("files")
    if not isinstance(files, dict) or not files:
        return False
    for name, size in files.items():
        try:
            if (tree / name).stat().st_size != size:
                return False
        except OSError:
            return False
    return True


def registry_dist() -> dict[str, str]:
    """{integrity, shasum, tarball} of the pinned version, as the registry says."""
    spec = f"{PACKAGE}@{VERSION}"
    npm = shutil.which("npm")
    if npm:
        result = subprocess.run(
            [npm, "view", spec, "dist", "--json"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise InstallError(f"npm view {spec} failed: {result.stderr.strip()}")
        return json.loads(result.stdout)
    url = DEFAULT_REGISTRY + urllib.parse.quote(PACKAGE, safe="@") + "/" + VERSION
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)["dist"]


def download(url: str, destination: Path) -> tuple[str, str, int]:
    """Stream url to destination: (sha512 integrity, sha1 hex, size)."""
    sha512, sha1, size = hashlib.sha512(), hashlib.sha1(), 0
    partial = destination.with_name(destination.name + ".partial")
    with urllib.request.urlopen(url, timeout=120) as response, partial.open("wb") as output:
        while block := response.read(CHUNK):
            sha512.update(block)
            sha1.update(block)
            size += len(block)
            output.write(block)
    partial.rename(destination)
    return "sha512-" + base64.b64encode(sha512.digest()).decode(), sha1.hexdigest(), size


def fetch_package(cache: Path) -> Path:
    """Download the pinned package tarball into the cache and check it."""
    dist = registry_dist()
    if dist.get("integrity") != INTEGRITY or dist.get("shasum") != SHASUM:
        raise InstallError(
            f"the registry's integrity for {PACKAGE}@{VERSION} is {dist.get('integrity')} / "
            f"{dist.get('shasum')}, not the pinned {INTEGRITY} / {SHASUM}"
        )
    tarball = cache / f"wordpress-builds-{VERSION}.tgz"
    started = time.monotonic()
    print(f"downloading {dist['tarball']}", file=sys.stderr)
    integrity, shasum, size = download(dist["tarball"], tarball)
    if integrity != INTEGRITY or shasum != SHASUM:
        tarball.unlink()
        raise InstallError(
            f"{dist['tarball']}: got {integrity} / {shasum}, expected {INTEGRITY} / {SHASUM}"
        )
    print(
        f"downloaded {size / 2**20:.1f} MiB in {time.monotonic() - started:.1f}s, "
        "integrity and shasum match",
        file=sys.stderr,
    )
    return tarball


def unpack_package(tarball: Path, cache: Path, wanted: list[str]) -> dict[str, bytes]:
    """One pass over the tarball: the wanted cores' zips (returned, checked) and their
    static files (written below cache/wp-<core>.assets/)."""
    builds = {CORES[core][0]: core for core in wanted}
    for core in wanted:
        shutil.rmtree(cache / f"wp-{core}.assets", ignore_errors=True)
    zips: dict[str, bytes] = {}
    with tarfile.open(tarball, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) < 4 or parts[0] != "package":
                continue
            if parts[1:3] == ["src", "wordpress"] and len(parts) == 4:
                build = parts[3].removeprefix("wp-").removesuffix(".zip")
                if parts[3].endswith(".zip") and build in builds:
                    zips[builds[build]] = read_member(archive, member)
            elif parts[1] == "public" and parts[2].removeprefix("wp-") in builds:
                relative = parts[3:]
                if relative[0] == "wp-content" or ".." in relative:
                    continue
                target = cache / f"wp-{builds[parts[2].removeprefix('wp-')]}.assets"
                target = target.joinpath(*relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(read_member(archive, member))
    for core in wanted:
        name, sha256, _ = CORES[core]
        if core not in zips:
            raise InstallError(f"wp-{name}.zip is not in {PACKAGE}@{VERSION}")
        if hashlib.sha256(zips[core]).hexdigest() != sha256:
            raise InstallError(f"wp-{name}.zip: sha256 differs from the pinned {sha256}")
    return zips


def read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    stream = archive.extractfile(member)
    if stream is None:
        raise InstallError(f"{member.name} in the package is not a file")
    with stream:
        return stream.read()


def build_tree(cache: Path, core: str, zip_bytes: bytes) -> None:
    """wp-<core>/ from the zip plus the static files it lacks; marker last."""
    name, sha256, wp_version = CORES[core]
    tree, staging = cache / f"wp-{core}", cache / f"wp-{core}.partial"
    assets = cache / f"wp-{core}.assets"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        archive.extractall(staging)
    version_php = (staging / "wp-includes" / "version.php").read_text()
    if f"$wp_version = '{wp_version}'" not in version_php:
        raise InstallError(f"wp-{name}.zip does not hold WordPress {wp_version}")
    restored = 0
    for source in sorted(assets.rglob("*")):
        target = staging / source.relative_to(assets)
        if source.is_file() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
            restored += 1
    shutil.rmtree(assets)
    files = {
        path.relative_to(staging).as_posix(): path.stat().st_size
        for path in sorted(staging.rglob("*"))
        if path.is_file()
    }
    marker = {
        "core": core,
        "wp_version": wp_version,
        "package": f"{PACKAGE}@{VERSION}",
        "zip": f"package/src/wordpress/wp-{name}.zip",
        "zip_sha256": sha256,
        "static_files_restored": restored,
        "files": files,
    }
    (staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
    shutil.rmtree(tree, ignore_errors=True)
    staging.rename(tree)
    print(
        f"WordPress {wp_version} in {tree} ({len(files)} files, {restored} static ones put back)",
        file=sys.stderr,
    )


def main(argv: list[str]) -> int:
    check_only = argv[1:] == ["--check"]
    if argv[1:] and not check_only:
        print(f"usage: {argv[0]} [--check]", file=sys.stderr)
        return 2
    cache = cache_dir()
    stale = [core for core in CORES if not tree_ok(core, cache / f"wp-{core}")]
    if not stale:
        print(f"WordPress builds present in {cache}: {', '.join(CORES)}", file=sys.stderr)
        return 0
    if check_only:
        print(f"WordPress builds missing in {cache}: {', '.join(stale)}", file=sys.stderr)
        return 1
    tarball = None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tarball = fetch_package(cache)
        zips = unpack_package(tarball, cache, stale)
        for core in stale:
            build_tree(cache, core, zips[core])
    except (InstallError, OSError, ValueError, tarfile.TarError, zipfile.BadZipFile) as error:
        print(f"install-wordpress-builds: {error}", file=sys.stderr)
        return 1
    finally:
        if tarball is not None:
            tarball.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
