"""Debian's MTAs side by side: ``apt-get download`` + ``dpkg-deb -x`` into a private folder.

Exim, OpenSMTPD and Sendmail conflict as installed packages (each provides
``mail-transport-agent``), so the lab never installs them: it downloads the
.debs and extracts them under a cache folder (``$BOUNCELAB_CACHE``, default
``var/bouncelab/`` in the repository, ignored by git; not under a home folder,
which the MTAs' service users could not enter) and runs the binaries from there with
``LD_LIBRARY_PATH`` pointing at the extracted libraries they need that the
machine may lack (libidn12 for Exim, liblockfile1 for Sendmail).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

LIBDIRS = ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib", "lib")


def cache_dir() -> Path:
    env = os.environ.get("BOUNCELAB_CACHE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "var" / "bouncelab"


def extracted(packages: tuple[str, ...]) -> Path:
    """The folder the packages are extracted into, downloading what is not there yet."""
    cache = cache_dir()
    debs, root = cache / "debs", cache / "root"
    debs.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    for package in packages:
        marker = cache / f"{package}.extracted"
        if marker.exists():
            continue
        got = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True,
                             timeout=300, check=False)
        files = sorted(debs.glob(f"{package}_*.deb"))
        if got.returncode != 0 or not files:
            raise SystemExit(
                f"bouncelab: apt-get download {package} failed ({got.stderr.strip().splitlines()[-1:] or '?'}); "
                "run apt-get update first"
            )
        subprocess.run(["dpkg-deb", "-x", str(files[-1]), str(root)], check=True, timeout=120)
        marker.write_text(files[-1].name + "\n")
    return root


def library_path(root: Path) -> str:
    return ":".join(str(root / d) for d in LIBDIRS if (root / d).is_dir())
