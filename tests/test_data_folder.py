"""covers.data.folder: the folder format's round trip, thumb spellings, remembered digests, and every
bad-input case named and counted."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covers.data.folder import DatasetError, FolderDataset


def make(root: Path, thumbs: str, items: str | None = None, covers=("a", "b", "c")) -> Path:
    (root / "covers" / "sub").mkdir(parents=True)
    for i, c in enumerate(covers):
        sub = "sub/" if i == 2 else ""  # sub-folders are allowed
        Image.new("RGB", (40, 40), (i * 80, 10, 10)).save(root / "covers" / f"{sub}{c}.png")
    (root / "thumbs.csv").write_text(thumbs)
    if items is not None:
        (root / "items.csv").write_text(items)
    return root


def test_round_trip_and_thumb_spellings(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,up\nu1,b,down\nu2,a,1\nu2,b,-1\nu3,c,true\nu3,a,FALSE\nu4,b,0\n",
                "item_id,genre,artist\na,techno,X\nb,jazz,Y\nc,metal,Z\n")
    ds = FolderDataset(str(root)).load()
    assert ds.items["item_id"].tolist() == ["a", "b", "c"]
    assert ds.items["genre"].tolist() == ["techno", "jazz", "metal"]
    assert ds.thumbs["thumb"].tolist() == [1, 0, 1, 0, 1, 0, 0]
    assert ds.covers.describe(2).endswith("sub/c.png")
    assert ds.skipped.total == 0
    # integer codes agree with the ids
    assert (ds.items["item_id"].to_numpy()[ds.thumbs["item"]] == ds.thumbs["item_id"].to_numpy()).all()
    assert ds.fingerprint == FolderDataset(str(root)).load().fingerprint


def test_fingerprint_follows_content(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,1\n")
    fp = FolderDataset(str(root)).load().fingerprint
    Image.new("RGB", (40, 40), (1, 2, 3)).save(root / "covers" / "a.png")
    assert FolderDataset(str(root)).load().fingerprint != fp


def test_remembered_digests_give_the_same_fingerprint_and_follow_size_and_mtime(tmp_path, caplog):
    import os

    root = make(tmp_path / "data", "user_id,item_id,thumb\nu1,a,1\nu1,b,0\n")
    cache = tmp_path / "cache"
    plain = FolderDataset(str(root)).load().fingerprint  # no cache: every cover read
    with caplog.at_level("INFO", logger="covers.data.digests"):
        assert FolderDataset(str(root)).load(cache).fingerprint == plain  # cold: all hashed, remembered
        assert FolderDataset(str(root)).load(cache).fingerprint == plain  # warm: all reused
    assert [m for m in caplog.messages if "digests reused" in m][-2:] == [
        f"{root}: 3 of 3 covers hashed, 0 digests reused (unchanged size and mtime)",
        f"{root}: 0 of 3 covers hashed, 3 digests reused (unchanged size and mtime)"]
    # new content: the size or the mtime moves, so it is read again and the fingerprint follows
    a = root / "covers" / "a.png"
    Image.new("RGB", (40, 40), (1, 2, 3)).save(a)
    changed = FolderDataset(str(root)).load(cache).fingerprint
    assert changed != plain and changed == FolderDataset(str(root)).load().fingerprint
    # the same bytes with a new mtime: re-read, same fingerprint
    os.utime(a, ns=(1, 1))
    assert FolderDataset(str(root)).load(cache).fingerprint == changed


def test_bad_rows_are_named_and_counted(tmp_path):
    thumbs = ("user_id,item_id,thumb,timestamp\n"
              "u1,a,1,1\n"        # line 2 fine
              "u1,zz,1,2\n"       # line 3: unknown item
              "u1,b,maybe,3\n"    # line 4: malformed thumb
              "u1,a,1,4\n"        # line 5: exact duplicate of line 2
              "u2,b,1,5\n"        # line 6: conflicts with line 7, older
              "u2,b,0,6\n"        # line 7: latest kept
              ",c,1,7\n")         # line 8: empty user
    root = make(tmp_path, thumbs, "item_id,genre\na,x\nb,y\nc,z\nq,w\n")
    ds = FolderDataset(str(root)).load()
    c = ds.skipped.counts
    assert c == {"thumb_unknown_item": 1, "malformed_thumb_row": 2, "duplicate_thumb": 1,
                 "conflicting_thumb": 1, "missing_cover": 1}
    where = {r["kind"]: r["where"] for r in ds.skipped.rows}
    assert where["thumb_unknown_item"].endswith("thumbs.csv:line 3")
    assert where["missing_cover"].endswith("items.csv:line 5")
    assert where["conflicting_thumb"].endswith("thumbs.csv:line 6")
    kept = ds.thumbs.set_index(["user_id", "item_id"])["thumb"]
    assert kept[("u2", "b")] == 0 and len(ds.thumbs) == 2


def test_fail_policy_raises_with_row(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,1\nu1,nope,1\n")
    with pytest.raises(DatasetError, match=r"thumbs.csv:line 3: item 'nope' has no cover"):
        FolderDataset(str(root), on_error="fail").load()


def test_missing_columns_and_folders_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        FolderDataset(str(tmp_path / "nothing")).load()
    root = make(tmp_path / "d", "user,item_id,thumb\nu1,a,1\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['user_id'\]"):
        FolderDataset(str(root)).load()


def test_parquet_thumbs(tmp_path):
    root = make(tmp_path, "")
    (root / "thumbs.csv").unlink()
    pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["a", "b"], "thumb": [1, 0]}).to_parquet(root / "thumbs.parquet")
    assert FolderDataset(str(root)).load().thumbs["thumb"].tolist() == [1, 0]


# --------------------------------------------------------------------------- hardening
from covers.data import folder as folder_mod  # noqa: E402
from covers.data.folder import one_class_users  # noqa: E402


def test_ragged_rows_blank_lines_and_bom_are_handled(tmp_path):
    thumbs = ("\ufeffuser_id,item_id,thumb\n"
              "u1,a,1\n"
              "\n"                 # line 3: blank, not a row
              "u1,b,0,extra\n"     # line 4: too many fields
              "u2,b\n"             # line 5: too few fields (no thumb)
              "u2,c,1\n")          # line 6 fine
    root = make(tmp_path, thumbs, "item_id,genre\na,x\nb,y,z\n\nc,w\n")
    ds = FolderDataset(str(root)).load()
    assert ds.thumbs[["user_id", "item_id"]].values.tolist() == [["u1", "a"], ["u2", "c"]]
    rows = ds.skipped.frame()
    bad = rows[rows["kind"] == "malformed_thumb_row"].set_index("where")["what"]
    assert {w.rsplit(":", 1)[1] for w in bad.index} == {"line 4", "line 5"}
    assert any("4 fields, the header has 3" in w for w in bad)
    item_bad = rows[rows["kind"] == "malformed_item_row"]
    assert item_bad["where"].str.endswith("items.csv:line 3").all() and len(item_bad) == 1
    assert ds.items.set_index("item_id").loc["c", "genre"] == "w"


def test_all_rows_with_an_extra_field_are_not_shifted(tmp_path):
    # pandas would silently take the first column as the index here; we name every row instead
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,1,x\nu1,b,0,y\nu2,a,1\n")
    ds = FolderDataset(str(root)).load()
    assert ds.thumbs[["user_id", "item_id", "thumb"]].values.tolist() == [["u2", "a", 1]]
    assert ds.skipped.counts == {"malformed_thumb_row": 2}


def test_not_utf8_and_empty_files_are_clear(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,1\n")
    (root / "items.csv").write_bytes("item_id,title\na,Café\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"items.csv: not UTF-8 text .* re-save it as UTF-8"):
        FolderDataset(str(root)).load()
    (root / "items.csv").unlink()
    (root / "thumbs.csv").write_text("")
    with pytest.raises(DatasetError, match=r"thumbs.csv: empty file"):
        FolderDataset(str(root)).load()


def test_timestamps_numeric_iso_or_malformed(tmp_path):
    thumbs = ("user_id,item_id,thumb,timestamp,true_score\n"
              "u1,a,1,1400000000,0.5\n"
              "u1,b,0,2014-05-13T16:53:20Z,-1\n"
              "u1,c,1,last tuesday,0\n"     # line 4: unreadable timestamp -> skipped, not fatal
              "u2,a,1,1400000001,high\n"    # line 5: unreadable true_score
              "u2,b,1,,0\n")                # line 6: empty timestamp
    ds = FolderDataset(str(make(tmp_path, thumbs))).load()
    assert ds.thumbs["timestamp"].tolist() == [1400000000, 1400000000]
    assert ds.thumbs["timestamp"].dtype == np.int64 and ds.thumbs["true_score"].tolist() == [0.5, -1.0]
    what = dict(zip(ds.skipped.frame()["where"].str.rsplit(":", n=1).str[1], ds.skipped.frame()["what"]))
    assert what["line 4"] == "timestamp 'last tuesday' is not a number or an ISO date"
    assert what["line 5"] == "true_score 'high' is not a number"
    assert ds.skipped.counts == {"malformed_thumb_row": 3}
    with pytest.raises(DatasetError, match="thumbs.csv:line 4: timestamp 'last tuesday'"):
        FolderDataset(str(make(tmp_path / "f", thumbs)), on_error="fail").load()


def test_parquet_nulls_are_malformed_not_the_string_none(tmp_path):
    root = make(tmp_path, "")
    (root / "thumbs.csv").unlink()
    pd.DataFrame({"user_id": ["u1", None, "u2"], "item_id": ["a", "b", "c"], "thumb": [True, False, None],
                  "timestamp": [1.0, 2.0, 3.0]}).to_parquet(root / "thumbs.parquet")
    ds = FolderDataset(str(root)).load()
    assert ds.thumbs[["user_id", "thumb", "timestamp"]].values.tolist() == [["u1", 1, 1]]
    assert sorted(ds.skipped.frame()["where"].str.rsplit(":", n=1).str[1]) == ["row 1", "row 2"]


def test_one_class_users_are_kept_and_listed(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,1\nu1,b,1\nu2,a,1\nu2,b,0\nu3,c,0\n")
    ds = FolderDataset(str(root)).load()
    assert len(ds.thumbs) == 5 and ds.skipped.total == 0  # nobody dropped, nothing "skipped"
    one = one_class_users(ds.thumbs)
    assert one.values.tolist() == [["u1", 2, "up"], ["u3", 1, "down"]]


def test_unknown_items_say_why(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,1\nu1,b.jpg,1\nu1,q,1\nu1,zz,0\n", "item_id\na\nq\n")
    what = dict(zip(*FolderDataset(str(root)).load().skipped.frame()[["where", "what"]].T.values))
    what = {w.rsplit(":", 1)[1]: x for w, x in what.items()}
    assert "did you mean 'b'?" in what["line 3"]
    assert what["line 4"] == "item 'q' has no cover file under covers/ (it is in items.csv)"
    assert what["line 5"] == "item 'zz' has no cover file under covers/"


def test_no_usable_thumbs_is_an_error_that_says_why(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,x1,1\nu1,x2,0\n")
    with pytest.raises(DatasetError, match=r"no usable thumbs \(2 readable rows; skipped: thumb_unknown_item: 2\)"):
        FolderDataset(str(root)).load()


def test_listing_is_capped_but_counts_are_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_mod, "LIST_LIMIT", 3)
    lines = "".join(f"u{k},nope{k},1\n" for k in range(10))
    ds = FolderDataset(str(make(tmp_path, "user_id,item_id,thumb\nu1,a,1\n" + lines))).load()
    assert ds.skipped.counts == {"thumb_unknown_item": 10}
    fr = ds.skipped.frame()
    assert len(fr) == 4 and fr["what"].iat[-1] == "... and 7 more thumb_unknown_item rows (not listed; the count is exact)"


def test_bad_cover_files_are_named(tmp_path):
    root = make(tmp_path, "user_id,item_id,thumb\nu1,a,1\nu1,b,0\nu1,empty,1\nu1,junk,0\nu1,cut,1\n")
    cdir = root / "covers"
    (cdir / "notes.txt").write_text("hi")                  # load time: not an image file
    Image.new("RGB", (8, 8)).save(cdir / "a.jpg")          # load time: second file for id 'a'
    (cdir / ".DS_Store").write_bytes(b"\0")                # hidden: ignored
    (cdir / "empty.png").write_bytes(b"")                   # decode time
    (cdir / "junk.jpg").write_text("<html>404</html>")     # decode time
    buf = Image.new("RGB", (64, 64), (1, 2, 3))
    buf.save(cdir / "full.jpg")
    (cdir / "cut.jpg").write_bytes((cdir / "full.jpg").read_bytes()[:300])
    (cdir / "full.jpg").unlink()
    ds = FolderDataset(str(root)).load()
    assert ds.skipped.counts == {"not_an_image_file": 1, "duplicate_cover_id": 1}
    pix, failed = ds.covers.decode(range(ds.n_items), 8, "gray", on_error="skip")
    msgs = {Path(ds.covers.describe(i)).name: m.split("cannot decode cover: ")[1] for i, m in failed}
    assert msgs["empty.png"] == "zero-byte file"
    assert msgs["junk.jpg"].startswith("not an image")
    assert msgs["cut.jpg"].startswith("truncated")
    assert len(failed) == 3
