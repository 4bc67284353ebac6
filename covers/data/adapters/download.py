"""A polite, resumable cover downloader: ``DIR/cover_urls.csv`` -> ``DIR/covers/<item_id>.<ext>``.

    python -m covers.data.adapters.download DIR [--rate 2] [--workers 2] [--retries 3] [--timeout 20]

* polite: a User-Agent naming the project, at most ``--rate`` requests per second over
  all workers (retries included), exponential backoff on 429 and 5xx (``Retry-After`` is
  honoured, capped at ``--max-wait``), and it stops after ``--max-consecutive-failures``
  failures in a row (the server is refusing us; carry on later) instead of hammering on;
* resumable: an item that already has a file under ``covers/`` is not fetched again, and
  one whose last failure was permanent (HTTP 400/404/410/451, a URL that is not http(s),
  an id that is not a safe file name, a file over ``--max-bytes``) is not retried unless
  ``--retry-failed``; transient failures (timeouts, 429, 5xx, non-image answers such as a
  captcha page) are retried on the next run;
* safe: each body is checked with the harness's own decoder (``decode_cover`` at 8 px:
  truncated files, HTML pages and decompression bombs are refused with its message) and
  written to a hidden temp file in ``covers/`` then ``os.replace``-d into place, so an
  interrupted run never leaves a partial cover. The extension comes from the decoded
  format, not from the URL;
* never dies on one bad URL: every failure is recorded in ``DIR/download_failures.csv``
  (item_id, url, status, error, attempts, permanent) - rewritten at the end of each run
  with what is still missing - and the run goes on.
Exit status: 0 when nothing failed, 1 when some covers are missing, 2 on usage errors.
"""
from __future__ import annotations

import argparse
import csv
import email.utils
import http.client
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from covers.data.images import CoverDecodeError, decode_cover

try:
    from importlib.metadata import version as _version

    _VERSION = _version("covers")
except Exception:  # noqa: BLE001 - not installed as a package
    _VERSION = "0"

USER_AGENT = f"covers/{_VERSION} (album-cover recommendation research harness; polite downloader)"
FORMAT_EXT = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp",
              "TIFF": ".tif", "AVIF": ".avif"}
PERMANENT_STATUS = {400, 404, 410, 451}
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
FAILURE_COLUMNS = ["item_id", "url", "status", "error", "attempts", "permanent"]


class RateLimiter:
    """At most ``rate`` request starts per second, over all threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass
class Outcome:
    item_id: str
    url: str
    ok: bool
    status: int | None = None
    error: str = ""
    attempts: int = 0
    permanent: bool = False


class _Failed(Exception):
    def __init__(self, error: str, status: int | None = None, permanent: bool = False, attempts: int = 1) -> None:
        super().__init__(error)
        self.status, self.permanent, self.attempts = status, permanent, attempts


def _retry_after(exc: urllib.error.HTTPError, cap: float) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        secs = when.timestamp() - time.time() if when else 0.0
    return min(max(secs, 0.0), cap)


class Downloader:
    def __init__(self, root: Path, rate: float = 2.0, workers: int = 2, retries: int = 3, timeout: float = 20.0,
                 backoff: float = 1.0, max_wait: float = 60.0, max_bytes: int = 20_000_000,
                 retry_failed: bool = False, max_consecutive_failures: int = 50, progress: bool = True) -> None:
        self.root = Path(root)
        self.covers = self.root / "covers"
        self.limiter = RateLimiter(rate)
        self.workers, self.retries, self.timeout = max(1, workers), max(0, retries), timeout
        self.backoff, self.max_wait, self.max_bytes = backoff, max_wait, max_bytes
        self.retry_failed, self.max_consecutive = retry_failed, max_consecutive_failures
        self.progress = progress
        self.consecutive = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ one URL
    def fetch(self, url: str) -> tuple[bytes, int, int]:
        """(body, status, attempts), retrying transient failures with backoff."""
        for attempt in range(1, self.retries + 2):
            self.limiter.wait()
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    length = resp.headers.get("Content-Length")
                    if length and length.isdigit() and int(length) > self.max_bytes:
                        raise _Failed(f"too large: {length} bytes > {self.max_bytes}", resp.status, True, attempt)
                    body = resp.read(self.max_bytes + 1)
                    if len(body) > self.max_bytes:
                        raise _Failed(f"too large: more than {self.max_bytes} bytes", resp.status, True, attempt)
                    return body, resp.status, attempt
            except urllib.error.HTTPError as exc:
                transient = exc.code == 429 or exc.code >= 500
                if transient and attempt <= self.retries:
                    asked = _retry_after(exc, self.max_wait)
                    time.sleep(asked if asked is not None else min(wait, self.max_wait))
                    continue
                raise _Failed(f"HTTP {exc.code} {exc.reason}", exc.code, exc.code in PERMANENT_STATUS, attempt) from exc
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # timeouts, resets, short reads
                if attempt <= self.retries:
                    time.sleep(min(wait, self.max_wait))
                    continue
                reason = getattr(exc, "reason", None) or exc
                raise _Failed(f"{type(exc).__name__}: {reason}", attempts=attempt) from exc
        raise AssertionError("unreachable")

    def one(self, item_id: str, url: str) -> Outcome:
        if self.stop.is_set():
            return Outcome(item_id, url, False, error="not tried: run stopped after too many failures in a row")
        if not SAFE_ID.fullmatch(item_id):
            return Outcome(item_id, url, False, error="item id is not a safe file name", permanent=True)
        if not re.match(r"https?://", url, re.I):
            return Outcome(item_id, url, False, error="not an http(s) URL", permanent=True)
        try:
            body, status, attempts = self.fetch(url)
        except _Failed as exc:
            out = Outcome(item_id, url, False, exc.status, str(exc), exc.attempts, exc.permanent)
        else:
            out = self._store(item_id, url, body, status, attempts)
        with self.lock:
            self.consecutive = 0 if out.ok else self.consecutive + 1
            if self.max_consecutive and self.consecutive >= self.max_consecutive:
                self.stop.set()
        return out

    def _store(self, item_id: str, url: str, body: bytes, status: int, attempts: int) -> Outcome:
        tmp = self.covers / f".dl-{item_id}.{os.getpid()}.{threading.get_ident()}.part"
        try:
            tmp.write_bytes(body)
            try:
                decode_cover(tmp, 8, "gray")
                with Image.open(tmp) as im:
                    fmt = im.format or ""
            except CoverDecodeError as exc:
                what = str(exc).split(": cannot decode cover: ", 1)[-1]
                return Outcome(item_id, url, False, status, f"not a usable image: {what}", attempts)
            ext = FORMAT_EXT.get(fmt)
            if ext is None:
                return Outcome(item_id, url, False, status, f"image format {fmt!r} is not one the loader reads",
                               attempts, True)
            os.replace(tmp, self.covers / f"{item_id}{ext}")
            return Outcome(item_id, url, True, status, "", attempts)
        finally:
            tmp.unlink(missing_ok=True)

    # ------------------------------------------------------------------ the folder
    def _present(self) -> set[str]:
        return {p.stem for p in self.covers.iterdir() if p.is_file() and not p.name.startswith(".")}

    def _known_failures(self) -> dict[str, dict]:
        path = self.root / "download_failures.csv"
        if not path.exists():
            return {}
        with open(path, newline="", encoding="utf-8") as f:
            return {r["item_id"]: r for r in csv.DictReader(f)}

    def run(self, out=None) -> dict[str, int]:
        out = out or sys.stdout
        src = self.root / "cover_urls.csv"
        if not src.exists():
            raise SystemExit(f"{src} does not exist (write it with an adapter, e.g. covers.data.adapters.amazon)")
        self.covers.mkdir(parents=True, exist_ok=True)
        for stale in self.covers.glob(".dl-*.part"):  # temp files of a killed run
            stale.unlink(missing_ok=True)
        with open(src, newline="", encoding="utf-8-sig") as f:
            rows = [(str(r.get("item_id", "")).strip(), str(r.get("url", "")).strip()) for r in csv.DictReader(f)]
        present, known = self._present(), self._known_failures()
        todo, carried = [], []
        counts = {"urls": len(rows), "duplicate_rows": 0, "already_present": 0, "skipped_permanent_failure": 0,
                  "downloaded": 0, "failed": 0}
        seen: set[str] = set()
        for item_id, url in rows:
            if item_id in seen:
                counts["duplicate_rows"] += 1
                continue
            seen.add(item_id)
            if item_id in present:
                counts["already_present"] += 1
                continue
            prev = known.get(item_id)
            if prev and prev.get("permanent") == "True" and prev.get("url") == url and not self.retry_failed:
                counts["skipped_permanent_failure"] += 1
                carried.append(prev)
                continue
            todo.append((item_id, url))
        failures: list[dict] = list(carried)
        t0 = time.perf_counter()
        try:
            with ThreadPoolExecutor(self.workers) as pool:
                for n, res in enumerate(pool.map(lambda r: self.one(*r), todo), 1):
                    if res.ok:
                        counts["downloaded"] += 1
                    else:
                        counts["failed"] += 1
                        failures.append({"item_id": res.item_id, "url": res.url, "status": res.status or "",
                                         "error": res.error, "attempts": res.attempts, "permanent": res.permanent})
                    if self.progress and n % 100 == 0:
                        print(f"  {n}/{len(todo)} ({counts['downloaded']} ok, {counts['failed']} failed, "
                              f"{n / (time.perf_counter() - t0):.2f}/s)", file=sys.stderr)
        finally:
            self._write_failures(failures)
        if self.stop.is_set():
            print(f"stopped: {self.max_consecutive} failures in a row; the server may be refusing us. "
                  "Re-run later to resume.", file=out)
        print(f"download {self.root}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
              + f" in {time.perf_counter() - t0:.1f} s; failures: {self.root / 'download_failures.csv'}", file=out)
        return counts

    def _write_failures(self, failures: list[dict]) -> None:
        path = self.root / "download_failures.csv"
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, FAILURE_COLUMNS, extrasaction="ignore")
            w.writeheader()
            w.writerows(failures)
        os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m covers.data.adapters.download",
                                 description="Download DIR/cover_urls.csv into DIR/covers/, politely and resumably.")
    ap.add_argument("dir", type=Path)
    ap.add_argument("--rate", type=float, default=2.0, help="requests per second over all workers (default 2)")
    ap.add_argument("--workers", type=int, default=2, help="parallel connections (default 2)")
    ap.add_argument("--retries", type=int, default=3, help="retries on 429 / 5xx / network errors (default 3)")
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per request (default 20)")
    ap.add_argument("--backoff", type=float, default=1.0, help="first retry wait in seconds, doubled each time")
    ap.add_argument("--max-wait", type=float, default=60.0, help="longest wait between retries (Retry-After too)")
    ap.add_argument("--max-bytes", type=int, default=20_000_000)
    ap.add_argument("--retry-failed", action="store_true", help="also retry permanent failures of earlier runs")
    ap.add_argument("--max-consecutive-failures", type=int, default=50, help="stop after this many (0: never)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if not a.dir.is_dir():
        ap.error(f"{a.dir} is not a folder")
    d = Downloader(a.dir, a.rate, a.workers, a.retries, a.timeout, a.backoff, a.max_wait, a.max_bytes,
                   a.retry_failed, a.max_consecutive_failures, progress=not a.quiet)
    counts = d.run()
    return 0 if counts["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
