"""covers.utils: the one meaning of n_jobs, dropping the pages of a memory-mapped matrix, and the
Part conventions every swappable part follows (get_params from __init__, result_params without
the speed parameters)."""
from __future__ import annotations

import os

import numpy as np
import pytest

from covers.utils import Part, available_cores, release_rows, resolve_n_jobs


def test_resolve_n_jobs():
    assert available_cores() == len(os.sched_getaffinity(0)) >= 1
    assert resolve_n_jobs(-1) == resolve_n_jobs(None) == available_cores()
    assert resolve_n_jobs(1) == 1 and resolve_n_jobs(7) == 7 and resolve_n_jobs(np.int64(3)) == 3
    for bad in (0, -2, 1.5, "4", True, False):
        with pytest.raises(ValueError, match=r"n_jobs must be -1 \(every available core\) or an int >= 1"):
            resolve_n_jobs(bad)


def test_release_rows_keeps_the_values_and_ignores_what_is_not_mapped(tmp_path):
    X = np.random.default_rng(0).normal(size=(5000, 64)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    for mode in ("r", "r+"):
        M = np.load(tmp_path / "x.npy", mmap_mode=mode)
        _ = M.sum()  # fault every page in
        release_rows(M, 100, 4000)
        release_rows(M)
        assert np.array_equal(M, X)  # the pages come back from the file
    M = np.load(tmp_path / "x.npy", mmap_mode="r+")
    M[10] = 1.0
    release_rows(M, 0, 20)  # a dirty page: written back first, not lost
    assert (np.load(tmp_path / "x.npy", mmap_mode="r")[10] == 1.0).all()
    plain = X.copy()
    release_rows(plain)  # not memory-mapped: nothing happens
    release_rows(np.load(tmp_path / "x.npy", mmap_mode="r")[::2])  # a strided view: nothing happens
    assert np.array_equal(plain, X)


class Toy(Part):
    speed_params = ("threads",)

    def __init__(self, size: int = 3, mode: str = "gray", threads: int = -1) -> None:
        self.size = size
        self.mode = mode
        self.threads = threads


def test_part_conventions():
    t = Toy(size=5, threads=2)
    assert Toy.param_names() == ["size", "mode", "threads"]
    assert t.get_params() == {"size": 5, "mode": "gray", "threads": 2}
    assert t.result_params() == {"class": "Toy", "size": 5, "mode": "gray"}  # threads change no result
    assert t.result_params() == Toy(size=5, threads=1).result_params()
    assert repr(t) == "Toy(size=5, mode='gray', threads=2)"
    assert Toy().check() is None  # nothing to refuse by default
