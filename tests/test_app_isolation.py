"""covers.app.isolation: a job's work in a child process; its value comes back, its exception comes
back with the child's traceback, and its death by a signal is a WorkKilled (a JobKilled: the run
ends KILLED) instead of the end of the sweep. covers.app.faults injects those failures."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from covers.app.faults import FaultyFeatures
from covers.app.isolation import WorkFailed, WorkKilled, run_isolated
from covers.utils import JobKilled


def test_the_value_comes_back():
    assert run_isolated(sum, [1, 2, 3]) == 6
    assert run_isolated(os.getpid) != os.getpid()  # it really ran elsewhere


def test_an_exception_comes_back_with_its_traceback():
    with pytest.raises(WorkFailed, match=r"ValueError: invalid literal for int\(\) with base 10: 'x'") as e:
        run_isolated(int, "x")
    assert "--- traceback of the work process ---" in str(e.value) and "Traceback" in str(e.value)


def test_a_killed_child_is_work_killed_and_the_parent_lives():
    with pytest.raises(WorkKilled, match=r"killed by signal 9 \(SIGKILL\) \(the kernel's OOM killer") as e:
        run_isolated(signal.raise_signal, signal.SIGKILL)
    assert isinstance(e.value, JobKilled)
    with pytest.raises(WorkKilled, match=r"signal 15 \(SIGTERM\)$"):
        run_isolated(signal.raise_signal, signal.SIGTERM)
    with pytest.raises(WorkFailed, match="exited with code 3 without a result"):
        run_isolated(os._exit, 3)


def test_faulty_features():
    imgs = np.zeros((2, 16, 16), np.uint8)
    with pytest.raises(RuntimeError, match="injected failure"):
        FaultyFeatures().transform(imgs)
    assert FaultyFeatures(fault="none").transform(imgs).shape == (2, 256)
    with pytest.raises(ValueError, match="FaultyFeatures: fault must be"):
        FaultyFeatures(fault="segfault").check()
    with pytest.raises(WorkKilled, match="SIGKILL"):
        run_isolated(FaultyFeatures(fault="sigkill").transform, imgs)
