"""Prerequisites of the local stack (Java 17+, Maven, PostgreSQL): found, or installed from Debian."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sharebus.core.errors import FetchError, PrerequisiteError
from sharebus.core.progress import Echo

POSTGRES_BIN_ROOT = Path("/usr/lib/postgresql")


def _is_root() -> bool:
    return os.geteuid() == 0


def apt_install(packages: list[str], echo: Echo) -> None:
    """Install Debian packages (root only); raise naming the packages and the fix otherwise."""
    if not shutil.which("apt-get"):
        raise PrerequisiteError(
            "system",
            f"{', '.join(packages)} missing and this is not a Debian-family system",
            fix=f"install {', '.join(packages)} with your package manager",
        )
    if not _is_root():
        raise PrerequisiteError(
            "system",
            f"{', '.join(packages)} missing, and installing needs root",
            fix=f"run: sudo apt-get install -y {' '.join(packages)}",
        )
    echo(f"installing {', '.join(packages)} from Debian (first run only)…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
    ):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise FetchError(
                "apt-get",
                f"`{' '.join(argv)}` failed (exit {proc.returncode})",
                fix="check that Debian's package mirrors are reachable, then retry",
                details=(proc.stderr or proc.stdout)[-2000:],
            )


def java_major_version(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def ensure_java(echo: Echo) -> str:
    """Path of a Java 17+ `java`, installing OpenJDK 17 from Debian if none is found."""
    java = _find_java()
    if java is None:
        apt_install(["openjdk-17-jre-headless"], echo)
        java = _find_java()
    if java is None:
        raise PrerequisiteError("java", "no `java` on PATH", fix="install a Java 17+ runtime")
    version = java_major_version(java)
    if version < 17:
        raise PrerequisiteError(
            "java",
            "Java is too old for Kafka 4",
            expected="Java 17 or newer",
            actual=f"Java {version} at {java}",
            fix="install openjdk-17-jre-headless (or set JAVA_HOME to a JDK 17+)",
        )
    return java


def _find_java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def ensure_maven(echo: Echo) -> str:
    """Path of `mvn`, installing Maven from Debian if missing."""
    mvn = shutil.which("mvn")
    if mvn is None:
        apt_install(["maven"], echo)
        mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteError("maven", "no `mvn` on PATH", fix="install Apache Maven 3.8+")
    return mvn


def postgres_bin_dir() -> Path | None:
    """Newest `/usr/lib/postgresql/<major>/bin` holding initdb, pg_ctl and postgres."""
    if not POSTGRES_BIN_ROOT.is_dir():
        return None
    candidates = sorted(
        (p for p in POSTGRES_BIN_ROOT.iterdir() if p.name.isdigit()),
        key=lambda p: int(p.name),
        reverse=True,
    )
    for version_dir in candidates:
        bin_dir = version_dir / "bin"
        if all((bin_dir / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return bin_dir
    return None


def ensure_postgres(echo: Echo) -> Path:
    """The PostgreSQL server binaries' folder, installing Debian's `postgresql` if missing.

    Installing the package may create and start Debian's own cluster on port 5432; the stack
    never touches it and runs its private cluster on its own port.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        apt_install(["postgresql"], echo)
        bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise PrerequisiteError(
            "postgresql",
            "PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin",
            fix="apt-get install postgresql",
        )
    return bin_dir
