"""Refresh the vendored Graphviz WebAssembly build (``@viz-js/viz``) from the npm registry.

    python -m viz.explorer.refresh_vendor              # the pinned version, checked against the pinned integrity
    python -m viz.explorer.refresh_vendor --version 3.32.0   # a new pin: the registry's integrity is recorded

Downloads the package's tarball, checks its ``sha512`` integrity (the pin in ``vendor/VERSION`` for the pinned
version, the registry's for another), and rewrites ``vendor/viz-global.js`` (the self-contained build, its
WebAssembly inlined) and ``vendor/VERSION`` (with that file's own integrity, which the tests check) atomically. The
licence texts beside them (Viz.js: MIT; the Graphviz compiled into it: EPL-2.0) are kept; check them when the major
version changes.

>>> pin = read_pin()
>>> pin["package"], pin["integrity"].startswith("sha512-")
('@viz-js/viz', True)
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import tarfile
import urllib.request

from tinygrad_rnn.serialization import atomic_path

PACKAGE = "@viz-js/viz"
REGISTRY = "https://registry.npmjs.org"
VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor")
BUILD = "package/dist/viz-global.js"  # the file inside the tarball


def read_pin(folder: str = VENDOR) -> dict:
    """The pinned package, version, tarball address and integrity, from ``vendor/VERSION`` (``key: value`` lines)."""
    with open(os.path.join(folder, "VERSION"), encoding="utf-8") as f:
        return dict(line.split(": ", 1) for line in f.read().splitlines() if ": " in line)


def integrity(data: bytes) -> str:
    """npm's Subresource-Integrity string of ``data``: ``sha512-`` and the base64 of its SHA-512 digest.

    >>> integrity(b"")[:20]
    'sha512-z4PhNX7vuL3xV'
    """
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def refresh(version: str | None = None, folder: str = VENDOR, get=None) -> dict:
    """Fetch ``version`` (default: the pinned one), verify it, rewrite the vendored build and pin; returns the pin.
    ``get(url) -> bytes`` fetches (default: from the registry over HTTPS)."""
    get = get or _get
    pin = read_pin(folder)
    version = version or pin["version"]
    meta = json.loads(get(f"{REGISTRY}/{PACKAGE}/{version}"))
    expected = pin["integrity"] if version == pin["version"] else meta["dist"]["integrity"]
    tarball = get(meta["dist"]["tarball"])
    if integrity(tarball) != expected:
        raise ValueError(f"refresh_vendor: the tarball of {PACKAGE} {version} has integrity {integrity(tarball)}, "
                         f"not the expected {expected}; nothing was changed")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        build = archive.extractfile(BUILD).read()
    new_pin = {"package": PACKAGE, "version": version, "tarball": meta["dist"]["tarball"], "integrity": expected,
               "file": BUILD.removeprefix("package/"), "file-integrity": integrity(build),
               "licence": "MIT (Viz.js), EPL-2.0 (Graphviz inside it)"}
    with atomic_path(os.path.join(folder, "viz-global.js")) as tmp, open(tmp, "wb") as f:
        f.write(build)
    with atomic_path(os.path.join(folder, "VERSION")) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(f"{key}: {value}\n" for key, value in new_pin.items()))
    return new_pin


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m viz.explorer.refresh_vendor", description=__doc__.split("\n")[0])
    parser.add_argument("--version", help=f"the {PACKAGE} version to vendor (default: the pinned one)")
    pin = refresh(parser.parse_args(argv).version)
    print(f"vendored {pin['package']} {pin['version']} ({pin['integrity']}) into {VENDOR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
