"""Run a job's work in a child process, so a crash of the work cannot take the sweep with it.

If the work process is killed (SIGKILL by the OOM killer or a user, a segfault in a C
extension), the job process survives, records the run as KILLED with the signal, and the
sweep goes on. Children come from a ``forkserver`` (a clean process that preloads the
package once), not a plain ``fork`` of a process that may hold MLflow connections and
threads, and not ``spawn``, which would re-import everything for every job.
"""
from __future__ import annotations

import multiprocessing as mp
import signal
import traceback
from typing import Any, Callable

from covers.utils import JobKilled, mp_context

_PRELOAD = ["covers.pipeline", "covers.app.task"]


class WorkKilled(JobKilled):
    """The work process died from a signal."""


class WorkFailed(RuntimeError):
    """The work raised; the message carries the child's traceback."""


def _child(conn, fn: Callable, args: tuple) -> None:
    try:
        conn.send(("ok", fn(*args)))
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        conn.send(("error", f"{type(exc).__name__}: {exc}", "".join(traceback.format_exception(exc))))
    finally:
        conn.close()


def run_isolated(fn: Callable, *args: Any) -> Any:
    """``fn(*args)`` in a child process; its return value, or WorkFailed / WorkKilled."""
    if mp.get_start_method(allow_none=True) in (None, "fork", "spawn", "forkserver"):
        ctx = mp_context(tuple(_PRELOAD))
    else:
        # inside a launcher's worker with its own start method (joblib's "loky"), which a
        # forkserver child cannot re-create; those workers are fresh single-job processes,
        # so a plain fork of them is safe
        ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args), name="covers-job-work")
    proc.start()
    send.close()
    try:
        msg = recv.recv()
    except EOFError:  # the child died without a word
        msg = None
    proc.join()
    code = proc.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = " (the kernel's OOM killer sends this when memory runs out)" if -code == signal.SIGKILL else ""
        raise WorkKilled(f"work process killed by signal {-code} ({name}){hint}")
    if msg is None:
        raise WorkFailed(f"work process exited with code {code} without a result (see its output above)")
    if msg[0] == "error":
        raise WorkFailed(f"{msg[1]}\n--- traceback of the work process ---\n{msg[2]}")
    return msg[1]
