"""covers.features.chunks: what a worker does with one chunk (decode, featurise, write its rows,
then mark it done), and the single-threaded, picklable copies of sources and extractors it gets."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from conftest import extractors, in_memory, procedural
from covers.data.sources import FileCovers
from covers.features.chunks import ChunkJob, compute_chunk, run_chunk, single_threaded, write_chunk
from covers.features.pixel import PixelFeatures


def test_sources_and_extractors_pickle():
    src = procedural(50)
    again = pickle.loads(pickle.dumps(src))
    assert np.array_equal(again.decode(range(50), 16)[0], src.decode(range(50), 16)[0])
    files = pickle.loads(pickle.dumps(FileCovers(["/x/a.png", "/x/b.png"])))
    assert files.paths == ["/x/a.png", "/x/b.png"]
    for ex in extractors():
        one = single_threaded(pickle.loads(pickle.dumps(ex)))
        assert one.result_params() == ex.result_params() and getattr(one, "n_jobs", 1) == 1
        assert one is not ex and ex.get_params() == pickle.loads(pickle.dumps(ex)).get_params()  # the original keeps its threads


def covers_with_a_bad_one(tmp_path, n=10, bad=5) -> FileCovers:
    paths = []
    for i in range(n):
        p = tmp_path / f"c{i}.png"
        if i == bad:
            p.write_bytes(b"")
        else:
            Image.new("RGB", (12, 12), (20 * i, 0, 0)).save(p)
        paths.append(str(p))
    return FileCovers(paths)


def test_a_chunk_is_its_rows_and_its_failures_by_global_index(tmp_path):
    src, ex = covers_with_a_bad_one(tmp_path), PixelFeatures(4, "gray")
    job = ChunkJob(source=src, extractor=ex, on_error="skip", n_features=16)
    feats, failed = compute_chunk(job, 4, 8)
    assert feats.dtype == np.float32 and feats.flags.c_contiguous and feats.shape == (4, 16)
    assert [i for i, _ in failed] == [5] and "c5.png: cannot decode cover: zero-byte file" in failed[0][1]
    assert np.array_equal(feats[[0, 2, 3]], in_memory(FileCovers([src.paths[i] for i in (4, 6, 7)]), ex))
    assert (feats[1] == 0).all()  # the failed cover's row is zeros (dropped later)
    with pytest.raises(ValueError, match=r"PixelFeatures returned shape \(4, 16\) for 4 covers, expected \(4, 9\)"):
        compute_chunk(ChunkJob(source=src, extractor=ex, on_error="skip", n_features=9), 4, 8)


def test_run_chunk_writes_the_rows_then_the_marker(tmp_path):
    src, ex = procedural(20, 16), PixelFeatures(4, "gray")
    partial, done = tmp_path / "m.npy.partial", tmp_path / "m.npy.partial.done"
    np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(20, 16))
    done.mkdir()
    job = ChunkJob(source=src, extractor=ex, on_error="skip", n_features=16, partial=str(partial), done_dir=str(done))
    assert run_chunk(job, 5, 12) == (5, 12, [])
    assert sorted(p.name for p in done.iterdir()) == ["5-12.json"] and json.loads((done / "5-12.json").read_text()) == []
    M = np.load(partial)
    assert np.array_equal(M[5:12], in_memory(src, ex)[5:12]) and (M[:5] == 0).all() and (M[12:] == 0).all()
    write_chunk(partial, done, 0, 2, np.ones((2, 16), np.float32), [(1, "bad")])
    assert json.loads((done / "0-2.json").read_text()) == [[1, "bad"]] and (np.load(partial)[:2] == 1).all()
