"""covers.cache: content keys, the one locking and atomic-publishing discipline of every entry
(files and folders, builders that publish themselves), and a killed write leaving nothing valid-looking."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import ENV, ROOT, in_memory, procedural
from covers.cache import Cache, key_of
from covers.features.extract import extract
from covers.features.pixel import PixelFeatures


def save_npy(arr):
    """A builder writing ``arr`` as .npy to exactly the path it is given (np.save on a name would add '.npy')."""
    def build(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, arr)
    return build


def test_keys_follow_content_not_order():
    assert key_of("x", 1) != key_of("x", 2)
    assert key_of({"a": 1, "b": 2}) == key_of({"b": 2, "a": 1})  # order of params does not matter
    assert key_of({"a": [1, 2]}) != key_of({"a": [2, 1]}) and len(key_of("x")) == 32


def test_a_file_entry_is_built_once_under_its_temporary_name_and_then_hit(tmp_path):
    cache = Cache(tmp_path)
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    given = []

    def build(tmp: Path) -> None:
        given.append(tmp)
        save_npy(X)(tmp)

    p, hit = cache.get_or_build("x", "k", build, ".npy")
    assert (p, hit) == (tmp_path / "x" / "k.npy", False) and p == cache.entry("x", "k", ".npy")
    assert [t.name for t in given] == [f"k.npy.tmp-{os.getpid()}"] and not given[0].exists()  # renamed into place
    Y = np.load(p, mmap_mode="r")
    assert isinstance(Y, np.memmap) and Y.dtype == np.float32 and np.array_equal(X, Y)
    p2, hit2 = cache.get_or_build("x", "k", lambda tmp: 1 / 0, ".npy")  # a hit never calls the builder
    assert (p2, hit2) == (p, True)
    assert sorted(f.name for f in (tmp_path / "x").iterdir()) == ["k.npy", "k.npy.lock"]


def test_a_folder_entry_and_a_builder_that_publishes_itself(tmp_path):
    cache = Cache(tmp_path)

    def world(tmp: Path) -> None:
        (tmp / "covers").mkdir(parents=True)
        (tmp / "items.csv").write_text("item_id\na\n")

    p, hit = cache.get_or_build("worlds", "w1", world)
    assert not hit and p.is_dir() and (p / "items.csv").read_text() == "item_id\na\n" and (p / "covers").is_dir()
    assert cache.get_or_build("worlds", "w1", world) == (p, True)
    # publishes=True: the builder gets the entry itself (streaming extraction resumes from its .partial)
    src, ex = procedural(30), PixelFeatures(8, "gray")
    given = []

    def features(entry: Path) -> None:
        given.append(entry)
        extract(src, ex, entry, n_jobs=1, progress=False)

    f, hit = cache.get_or_build("features", "f", features, ".npy", publishes=True)
    assert not hit and given == [f] and np.array_equal(np.load(f), in_memory(src, ex))
    assert cache.get_or_build("features", "f", lambda e: 1 / 0, ".npy", publishes=True) == (f, True)
    with pytest.raises(RuntimeError, match="did not create it"):  # a self-publishing builder that did not
        cache.get_or_build("features", "g", lambda e: None, ".npy", publishes=True)


def test_a_failed_build_leaves_nothing_and_the_next_call_builds(tmp_path):
    cache = Cache(tmp_path)

    def half(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_build("x", "k", half, ".npy")
    assert sorted(f.name for f in (tmp_path / "x").iterdir()) == ["k.npy.lock"]  # no entry, no debris
    with pytest.raises(RuntimeError, match="wrote nothing"):
        cache.get_or_build("x", "k", lambda tmp: None, ".npy")
    p, hit = cache.get_or_build("x", "k", save_npy(np.ones(2)), ".npy")
    assert not hit and np.array_equal(np.load(p), np.ones(2))


def test_a_disabled_cache_and_replace(tmp_path):
    off = Cache(None)
    assert not off.enabled and Cache(tmp_path).enabled
    with pytest.raises(ValueError, match=r"no cache directory \(paths.cache_dir\) for the features entry k"):
        off.entry("features", "k")
    cache = Cache(tmp_path)
    p = cache.replace("digests", "d", lambda f: f.write(b"one"), ".parquet")
    assert p == tmp_path / "digests" / "d.parquet" and p.read_bytes() == b"one"
    assert cache.replace("digests", "d", lambda f: f.write(b"two"), ".parquet").read_bytes() == b"two"
    assert sorted(f.name for f in p.parent.iterdir()) == ["d.parquet", "d.parquet.lock"]


def test_cache_hit_returns_exactly_what_would_be_computed(tmp_path):
    cache = Cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return np.random.default_rng(0).normal(size=(50, 7)).astype(np.float32)

    pa, hit_a = cache.get_or_build("features", key_of("x", 1), lambda tmp: save_npy(compute())(tmp), ".npy")
    pb, hit_b = cache.get_or_build("features", key_of("x", 1), lambda tmp: save_npy(compute())(tmp), ".npy")
    assert (hit_a, hit_b) == (False, True) and len(calls) == 1 and pa == pb
    a, b = np.load(pa), np.load(pb, mmap_mode="r")
    assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b) and np.array_equal(b, compute())


BUILD_SLOWLY = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from covers.cache import Cache

    root, log = Path(sys.argv[1]), Path(sys.argv[2])

    def build(tmp):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        print("building", flush=True)
        time.sleep(float(sys.argv[3]))
        tmp.write_bytes(b"built by %d" % os.getpid())

    p, hit = Cache(root).get_or_build("index", "k", build, ".ann")
    print(hit, p.read_bytes().decode(), flush=True)
""")


def test_parallel_processes_build_an_entry_once(tmp_path):
    script = tmp_path / "build.py"
    script.write_text(BUILD_SLOWLY)
    cmd = [sys.executable, str(script), str(tmp_path / "cache"), str(tmp_path / "log")]
    first = subprocess.Popen([*cmd, "1.5"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    assert first.stdout.readline().strip() == "building"  # holds the entry's lock now
    second = subprocess.Popen([*cmd, "0"], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    out1, out2 = first.communicate(timeout=60)[0], second.communicate(timeout=60)[0]
    assert first.returncode == second.returncode == 0
    builders = (tmp_path / "log").read_text().split()
    assert builders == [str(first.pid)]  # the second waited for the lock and found the entry
    assert out1.split() == ["False", "built", "by", str(first.pid)]
    assert out2.split() == ["True", "built", "by", str(first.pid)]


def test_a_build_killed_under_the_lock_frees_it_and_leaves_only_debris(tmp_path):
    script = tmp_path / "build.py"
    script.write_text(BUILD_SLOWLY)
    p = subprocess.Popen([sys.executable, str(script), str(tmp_path / "cache"), str(tmp_path / "log"), "60"],
                         cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "building"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    entry = tmp_path / "cache" / "index" / "k.ann"
    assert not entry.exists()
    got, hit = Cache(tmp_path / "cache").get_or_build("index", "k", lambda tmp: tmp.write_bytes(b"fresh"), ".ann")
    assert (got, hit) == (entry, False) and entry.read_bytes() == b"fresh"  # the dead process's lock is gone


def test_killed_write_leaves_no_valid_looking_entry(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        sys.path.insert(0, {str(ROOT)!r})
        from covers.cache import atomic_write_bytes
        def slow(f):
            f.write(b"x" * 1000)
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
        atomic_write_bytes(Path({str(tmp_path)!r}) / "features" / "k.npy", slow)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    final = tmp_path / "features" / "k.npy"
    assert not final.exists()
    assert list((tmp_path / "features").glob("k.npy.tmp-*"))  # the debris is there, under a name never read
    path, hit = Cache(tmp_path).get_or_build("features", "k", save_npy(np.arange(3.0)), ".npy")
    assert not hit and path == final and np.array_equal(np.load(final), np.arange(3.0))
