"""A real headless browser for tests: Debian's chromium (installed from Debian when missing, with a
CJK font so district names render), driven by playwright without its own browser download."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sharebus.core.errors import PrerequisiteError
from sharebus.dev.stack.system import apt_install

PACKAGES = ["chromium", "fonts-wqy-microhei"]
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
"""Besides --headless (playwright's `headless=True`) and a fresh --user-data-dir (its persistent
context on a new directory)."""


def ensure_chromium(echo: Any = print) -> str:
    """The chromium executable, installing chromium and a CJK font from Debian when missing
    (idempotent; root only). Raises a SharebusError naming the fix when it cannot be had."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None or not CJK_FONT.exists():
        apt_install(PACKAGES, echo)
        path = shutil.which("chromium")
    if path is None:
        raise PrerequisiteError(
            "chromium", "not installed after apt-get install", fix="apt-get install chromium"
        )
    probe = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0 or "Chromium" not in probe.stdout:
        raise PrerequisiteError(
            "chromium",
            "does not run",
            expected="`chromium --version` prints its version",
            actual=(probe.stdout + probe.stderr)[-300:],
            fix="apt-get install --reinstall chromium",
        )
    return path


@contextmanager
def chromium_page(
    profile: Path,
    *,
    width: int = 1500,
    height: int = 1400,
    login: tuple[str, str] | None = None,
    trust: Path | None = None,
) -> Iterator[Any]:
    """A page of a fresh headless chromium (profile in `profile`, which must be new); `login`
    answers the web server's HTTP basic auth (as a user typing it into the browser's prompt);
    `trust` is a server certificate (PEM) whose key the browser accepts (the bus's own CA is not
    in its store): exactly that key, nothing else unverified."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise PrerequisiteError(
            "playwright", "the Python package is missing", fix="pip install -e '.[dev]' (dev extra)"
        ) from None
    executable = ensure_chromium()
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=[*FLAGS, *_trusting(trust)],
            viewport={"width": width, "height": height},
            http_credentials={"username": login[0], "password": login[1]} if login else None,
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def _trusting(cert: Path | None) -> list[str]:
    """Chromium's flag accepting one server key (base64 SHA-256 of its SubjectPublicKeyInfo)."""
    if cert is None:
        return []
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    return [f"--ignore-certificate-errors-spki-list={pin}"]
