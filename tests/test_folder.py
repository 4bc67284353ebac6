"""The folder format: round trip, thumb spellings, and every bad-input case named and counted."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from covers.data.folder import DatasetError, FolderDataset
from covers.data.images import decode_cover
from covers.data.sources import FileCovers


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


def test_decode_modes_and_failures(tmp_path):
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent -> white background
    rgba.save(tmp_path / "t.png")
    assert (decode_cover(tmp_path / "t.png", 8, "rgb") == 255).all()
    Image.new("L", (30, 10), 128).save(tmp_path / "g.png")  # non-square gray is stretched
    assert decode_cover(tmp_path / "g.png", 8, "rgb").shape == (8, 8, 3)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    paths = [tmp_path / "t.png", tmp_path / "empty.png", tmp_path / "g.png", tmp_path / "junk.jpg"]
    pix, failed = FileCovers(paths).decode(range(4), 8, "gray", on_error="skip")
    assert [i for i, _ in failed] == [1, 3]
    assert "empty.png: cannot decode cover" in failed[0][1]
    assert pix.shape == (4, 8, 8) and (pix[0] == 255).all()
    with pytest.raises(ValueError, match="junk.jpg"):
        FileCovers(paths[3:]).decode(range(1), 8, "gray", on_error="fail")


def test_jpeg_draft_decoding_is_close_to_full_decoding(tmp_path):
    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)).resize((300, 300))
    small = big.resize((30, 30), Image.Resampling.BILINEAR).resize((300, 300), Image.Resampling.BICUBIC)
    small.save(tmp_path / "c.jpg", quality=95)
    got = decode_cover(tmp_path / "c.jpg", 16, "gray").astype(float)
    with Image.open(tmp_path / "c.jpg") as im:
        full = np.asarray(im.convert("RGB").resize((16, 16), Image.Resampling.LANCZOS).convert("L"), float)
    assert np.abs(got - full).mean() < 3.0
