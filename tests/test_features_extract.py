"""Streaming extraction (covers.features.extract): chunked == in memory, bit for bit; a kill -9 mid-way
resumes from the finished chunks; the Dask engine gives the local engine's matrix; memory does
not grow with the catalogue; undecodable covers are collected; an empty catalogue works."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from conftest import ENV, ROOT, extractors, gist_extractors, in_memory, need, procedural
from covers.data.images import CoverDecodeError
from covers.data.sources import FileCovers
from covers.features.engines.local import LocalEngine
from covers.features.chunks import SLOWDOWN_ENV
from covers.features.extract import extract, extract_array, partial_paths
from covers.features.pixel import PixelFeatures


# --------------------------------------------------------------------------- equality
@pytest.mark.parametrize("ex", extractors(), ids=lambda e: f"{type(e).__name__}-{e.size}-{e.mode}")
def test_chunked_extraction_is_bit_identical_for_any_workers(tmp_path, ex):
    """Same chunks -> same bits, however many workers: the extraction's own contract."""
    src = procedural(300)
    runs = [np.load(extract(src, ex, tmp_path / f"m-{n_jobs}.npy", chunk_size=64, n_jobs=n_jobs, progress=False).path)
            for n_jobs in (1, 2)]
    assert runs[0].dtype == np.float32 and np.array_equal(runs[0], runs[1])
    assert np.array_equal(runs[0], in_memory(src, ex))


@pytest.mark.parametrize("ex", [PixelFeatures(16, "gray"), PixelFeatures(8, "rgb")] + gist_extractors(),
                         ids=lambda e: f"{type(e).__name__}-{e.size}-{e.mode}")
def test_chunked_extraction_equals_in_memory_exactly(tmp_path, ex):
    src = procedural(300)
    ref = in_memory(src, ex)
    if not isinstance(ex, PixelFeatures):
        try:
            from covers.features.gist import gist
        except ImportError:
            pytest.skip("no GIST")
        pix, _ = src.decode(range(300), ex.size, ex.mode, 1)
        if not np.array_equal(np.concatenate([ex.transform(pix[a:a + 37]) for a in range(0, 300, 37)]), ref):
            pytest.fail("covers.features.gist is not batch-invariant: its output depends on how images are "
                        "batched (an earlier version's prefilter ran one sgemm over a whole group)")
    for n_jobs, chunk in ((1, 64), (2, 37), (1, 1000)):
        out = tmp_path / f"m-{n_jobs}-{chunk}.npy"
        res = extract(src, ex, out, chunk_size=chunk, n_jobs=n_jobs, progress=False)
        X = np.load(out)
        assert X.dtype == np.float32 and np.array_equal(X, ref), (n_jobs, chunk)
        assert res.failed == [] and res.computed_chunks == -(-300 // chunk) and res.resumed_chunks == 0
        assert not any(p.exists() for p in partial_paths(out))  # .partial renamed, markers removed


def test_pixels_are_exact_for_any_chunking(tmp_path):
    src, ex = procedural(101), PixelFeatures(16, "gray")
    for chunk in (1, 7, 37):
        res = extract(src, ex, tmp_path / f"p{chunk}.npy", chunk_size=chunk, n_jobs=2, progress=False)
        assert np.array_equal(np.load(res.path), in_memory(src, ex))


def test_undecodable_covers_are_collected_with_messages(tmp_path):
    from PIL import Image

    paths = []
    for i in range(40):
        p = tmp_path / f"c{i:02d}.png"
        if i in (3, 17, 31):
            p.write_bytes(b"not an image")
        else:
            Image.new("RGB", (20, 20), (i * 5, 100, 200)).save(p)
        paths.append(str(p))
    src, ex = FileCovers(paths), PixelFeatures(8, "gray")
    res = extract(src, ex, tmp_path / "f.npy", failed_path=tmp_path / "failed.csv", chunk_size=8, n_jobs=2,
                  progress=False)
    assert [i for i, _ in res.failed] == [3, 17, 31]
    assert all("c03.png" in m or "c17.png" in m or "c31.png" in m for _, m in res.failed)
    fr = pd.read_csv(tmp_path / "failed.csv")
    assert fr["index"].tolist() == [3, 17, 31] and "cannot decode" in fr["message"][0]
    X = np.load(tmp_path / "f.npy")
    good = [i for i in range(40) if i not in (3, 17, 31)]
    assert np.array_equal(X[good], in_memory(FileCovers([paths[i] for i in good]), ex))
    with pytest.raises(CoverDecodeError):
        extract(src, ex, tmp_path / "g.npy", chunk_size=8, n_jobs=1, on_error="fail", progress=False)
    assert not (tmp_path / "g.npy").exists() and partial_paths(tmp_path / "g.npy")[0].exists()  # resumable


# --------------------------------------------------------------------------- resume
KILLED_RUN = textwrap.dedent("""
    import sys
    from covers.data.sources import ProceduralCovers
    from covers.data.synthetic import make_items, render_item_cover
    from covers.features.extract import extract
    from covers.features.pixel import PixelFeatures

    if __name__ == "__main__":
        n, out, n_jobs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        src = ProceduralCovers(render_item_cover, 0, list(make_items(n)["style"]), 32)
        extract(src, PixelFeatures(16, "gray"), out, chunk_size=10, n_jobs=n_jobs, progress=False)
""")


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_killed_extraction_resumes_from_finished_chunks(tmp_path, n_jobs):
    n, out = 400, tmp_path / "cache" / "features" / "k.npy"
    script = tmp_path / "extract_slowly.py"
    script.write_text(KILLED_RUN)
    partial, done = partial_paths(out)
    proc = subprocess.Popen([sys.executable, str(script), str(n), str(out), str(n_jobs)], cwd=ROOT,
                            env={**ENV, SLOWDOWN_ENV: "0.1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if done.is_dir() and len([p for p in done.iterdir() if p.suffix == ".json"]) >= 8:
                break
            assert proc.poll() is None, "the extraction ended before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("no chunks finished in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: the workers die too
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not out.exists() and partial.exists()
    finished = sorted(tuple(map(int, p.stem.split("-"))) for p in done.iterdir() if p.suffix == ".json")
    assert 8 <= len(finished) < n // 10
    # a chunk without a marker may be half-written: scribble on one, it must be recomputed
    free = next(a for a in range(0, n, 10) if (a, a + 10) not in finished)
    mm = np.load(partial, mmap_mode="r+")
    mm[free:free + 10] = 12345.0
    mm.flush()
    del mm

    ex = PixelFeatures(16, "gray")
    res = extract(procedural(n), ex, out, chunk_size=10, n_jobs=1, progress=False)
    assert res.resumed_chunks == len(finished) and res.resumed_rows == sum(b - a for a, b in finished)
    assert res.computed_chunks == n // 10 - len(finished)  # only the unfinished ones
    assert np.array_equal(np.load(out), in_memory(procedural(n), ex))
    assert not partial.exists() and not done.exists()


def test_resume_with_another_chunk_size_and_a_stale_partial(tmp_path):
    src, ex = procedural(120), PixelFeatures(8, "gray")
    out = tmp_path / "m.npy"
    partial, done = partial_paths(out)

    class StopAfter:  # an engine that dies after 3 chunks
        name = "flaky"

        def run(self, job, ranges):
            for i, r in enumerate(LocalEngine(1).run(job, ranges)):
                if i == 3:
                    raise KeyboardInterrupt
                yield r

    with pytest.raises(KeyboardInterrupt):
        extract(src, ex, out, chunk_size=16, engine=StopAfter(), progress=False)
    assert len(list(done.glob("*.json"))) == 4  # the 4th chunk was finished (and marked) when it stopped
    res = extract(src, ex, out, chunk_size=25, n_jobs=1, progress=False)  # other chunk size: ranges still count
    assert res.resumed_rows == 64 and res.computed_chunks == 3  # 64-89, 89-114, 114-120
    assert np.array_equal(np.load(out), in_memory(src, ex))
    # a leftover .partial of another shape (e.g. another extractor size) is discarded, not reused
    out2 = tmp_path / "m2.npy"
    p2, d2 = partial_paths(out2)
    np.lib.format.open_memmap(p2, mode="w+", dtype=np.float32, shape=(7, 3))
    d2.mkdir()
    (d2 / "0-7.json").write_text("[]")
    res = extract(src, ex, out2, chunk_size=50, n_jobs=1, progress=False)
    assert res.resumed_chunks == 0 and np.array_equal(np.load(out2), in_memory(src, ex))


# --------------------------------------------------------------------------- engines
@pytest.mark.slow
def test_dask_engine_on_a_local_cluster_equals_local(tmp_path):
    """A real LocalCluster on 127.0.0.1 (2 worker processes): the matrix is the local engine's, bit for bit."""
    need("distributed", "cluster")
    from covers.features.engines.dask import DaskEngine

    src = procedural(500)
    for ex, transfers in [(extractors()[0], ("file", "return"))] + [(g, ("file",)) for g in gist_extractors()[:1]]:
        local = extract(src, ex, tmp_path / f"local-{ex.size}.npy", chunk_size=64, n_jobs=2, progress=False)
        ref = np.load(local.path)
        for transfer in transfers:
            eng = DaskEngine(address=None, n_workers=2, threads_per_worker=1, transfer=transfer)
            res = extract(src, ex, tmp_path / f"dask-{transfer}-{ex.size}.npy", chunk_size=64, engine=eng,
                          progress=False)
            assert res.engine == "dask" and res.computed_chunks == 8
            assert np.array_equal(np.load(res.path), ref), transfer
    bad = DaskEngine(transfer="carrier-pigeon")  # __init__ only stores; run() checks first
    with pytest.raises(ValueError, match="transfer"):
        bad.check()
    with pytest.raises(ValueError, match="transfer"):
        extract(src, extractors()[0], tmp_path / "never.npy", engine=bad, progress=False)


def test_engine_configs_instantiate(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    import covers.app.task  # noqa: F401  (resolvers)

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for name, cls in (("local", "LocalEngine"), ("dask", "DaskEngine")):
            cfg = compose(config_name="config", overrides=[f"engine={name}", f"paths.cache_dir={tmp_path}"])
            eng = instantiate(cfg.engine)
            assert type(eng).__name__ == cls and eng.chunk_size == cfg.engine.chunk_size == 2048
            eng.check()
            # where the work runs is never part of a result: every parameter is a speed parameter
            assert eng.result_params() == {"class": cls}


# --------------------------------------------------------------------------- memory
MEASURE = textwrap.dedent("""
    import resource, sys
    from covers.data.sources import ProceduralCovers
    from covers.data.synthetic import make_items, render_item_cover
    from covers.features.extract import extract
    from covers.features.pixel import PixelFeatures

    if __name__ == "__main__":
        n, out = int(sys.argv[1]), sys.argv[2]
        src = ProceduralCovers(render_item_cover, 0, list(make_items(n)["style"]), 16)
        extract(src, PixelFeatures(32, "rgb"), out, chunk_size=200, n_jobs=2, progress=False)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
""")


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_catalogue(tmp_path):
    """20k vs 2k covers of 3072 float32 each (240 MB vs 24 MB of features): chunk x workers bounds
    the memory of the parent and of every worker, so the peak barely moves."""
    script = tmp_path / "measure.py"
    script.write_text(MEASURE)
    peaks = {}
    for n in (2_000, 20_000):
        p = subprocess.run([sys.executable, str(script), str(n), str(tmp_path / f"f{n}.npy")], cwd=ROOT, env=ENV,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        self_kb, children_kb = map(int, p.stdout.split()[-2:])
        peaks[n] = max(self_kb, children_kb) * 1024
    matrix_growth = (20_000 - 2_000) * 32 * 32 * 3 * 4  # 221 MB more features
    assert peaks[20_000] / peaks[2_000] < 1.35, peaks
    assert peaks[20_000] - peaks[2_000] < 0.25 * matrix_growth, peaks


# --------------------------------------------------------------------------- covers and the pipeline


def test_an_empty_catalogue_gives_an_empty_matrix(tmp_path):
    res = extract(FileCovers([]), PixelFeatures(4, "gray"), tmp_path / "e.npy", failed_path=tmp_path / "e.csv",
                  progress=False)
    assert np.load(res.path).shape == (0, 16) and res.failed == [] and (tmp_path / "e.csv").exists()


def test_extract_array_without_a_cache_is_the_same_matrix_memory_mapped(tmp_path):
    src, ex = procedural(30), PixelFeatures(8, "gray")
    ref = extract(src, ex, tmp_path / "ref.npy", chunk_size=7, n_jobs=1, progress=False)
    A, failed = extract_array(src, ex, n_jobs=1, chunk_size=7, progress=False)  # a temp file, mapped, unlinked
    assert isinstance(A, np.memmap) and failed == []
    assert np.array_equal(A, np.load(ref.path)) and np.array_equal(A, in_memory(src, ex))
