"""Helpers for tests/test_tracking_ui.py: a real `mlflow server` on a loopback port, the
headless Chromium that drives it, and the MLflow UI's own number formats.

No browser is ever downloaded: the browser is Debian's ``chromium`` package at
``/usr/bin/chromium``, driven by the Python ``playwright`` package
(``.ci/run`` installs chromium where it is missing; playwright is in requirements-dev.lock).
"""
from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")

#: What Chromium needs here, as root on a machine whose network is closed: without the
#: background-networking flags its own connections (updates, sync, ...) are refused and slow it.
#: Playwright passes its own fresh --user-data-dir.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: What the server and the sweep may not try to reach from a closed network.
QUIET_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}

#: The server's GenAI job runner (huey consumers for judges/scorers) is not what the UI check
#: is about: without it the server starts in ~5 s instead of ~14 s and stops at once.
SERVER_ENV = {**QUIET_ENV, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def missing_browser_parts() -> list[str]:
    """What is missing for the UI test; empty when it can run."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package 'playwright' (pip install -r requirements.lock)")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian package 'chromium')")
    return missing


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """Stop the server and everything it started (its own process group), politely first."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=grace)


@contextmanager
def mlflow_server(backend_uri: str, artifact_root: Path, log_path: Path,
                  startup_timeout: float = 90.0, tries: int = 3) -> Iterator[str]:
    """``mlflow server`` on 127.0.0.1 at a free port; yields its base URL once /health answers.

    Artifacts are served: the experiments' artifact locations are absolute file URIs next to
    the sqlite db, which the server reads itself for the UI's /get-artifact requests.
    """
    last_error = ""
    for _ in range(tries):  # a free port can be taken between choosing and binding it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", backend_uri,
               "--default-artifact-root", artifact_root.as_uri(),
               "--serve-artifacts",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **SERVER_ENV}, start_new_session=True)
        try:
            deadline = time.monotonic() + startup_timeout
            while time.monotonic() < deadline and proc.poll() is None and not _healthy(url):
                time.sleep(0.25)
            if proc.poll() is None and _healthy(url):
                yield url
                return
            last_error = (f"mlflow server {'exited with ' + str(proc.returncode) if proc.poll() is not None else 'not healthy'}"
                          f" after {startup_timeout:.0f}s at most; log {log_path}:\n"
                          + log_path.read_text(errors="replace")[-3000:])
            if proc.poll() is None:  # alive but never healthy: retrying will not help
                break
        finally:
            _stop(proc)
    raise RuntimeError(last_error)


def js_string(x: float) -> str:
    """``String(x)`` in JavaScript, as the UI prints a raw metric value (1 -> "1", not "1.0")."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    r = repr(x)  # shortest round-trip digits, like JavaScript's
    if 1e-6 <= abs(x) < 1e21:
        return format(Decimal(r), "f")
    mant, exp = r.split("e")
    return f"{mant}e{'+' if int(exp) > 0 else '-'}{abs(int(exp))}"


def _js_round(x: float) -> float:
    return float(math.floor(x + 0.5))  # Math.round


def format_metric(x: float) -> str:
    """The UI's ``Utils.formatMetric`` (compare page): 3 decimals under 10, 2 under 100, else 1."""
    if x == 0:
        return "0"
    if abs(x) < 1e-3:
        mant, exp = f"{x:.3e}".split("e")
        return f"{mant}e{'+' if int(exp) >= 0 else '-'}{abs(int(exp))}"
    for limit, scale in ((10, 1e3), (100, 1e2)):
        if abs(x) < limit:
            return js_string(_js_round(scale * x) / scale)
    return js_string(_js_round(10 * x) / 10)


def exact(text: str) -> re.Pattern:
    """A pattern matching the whole of ``text`` (for has_text filters)."""
    return re.compile(f"^{re.escape(text)}$")
