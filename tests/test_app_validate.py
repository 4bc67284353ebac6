"""``python -m covers validate``: exit codes and the printed report (fixtures under tmp_path)."""
from __future__ import annotations

import re
from pathlib import Path

from PIL import Image

from covers.app.validate import main


def folder(root: Path, n_items: int = 80, bad_covers: bool = True, thumbs: str | None = None) -> Path:
    (root / "covers").mkdir(parents=True)
    for i in range(n_items):
        Image.new("RGB", (40, 40), (i * 3 % 256, 50, 90)).save(root / "covers" / f"i{i:03d}.jpg")
    if bad_covers:
        (root / "covers" / "i000.jpg").write_bytes(b"")
        (root / "covers" / "i001.jpg").write_text("<!DOCTYPE html>")
    if thumbs is None:
        rows = ["user_id,item_id,thumb"] + [f"u{u},i{i:03d},{(u + i) % 2}" for u in range(6) for i in range(0, n_items, 3)]
        rows += ["u1,zz,1", "u2,i005,maybe"]
        thumbs = "\n".join(rows) + "\n"
    (root / "thumbs.csv").write_text(thumbs)
    (root / "items.csv").write_text("item_id,genre\n" + "".join(f"i{i:03d},g{i % 3}\n" for i in range(n_items)))
    return root


def test_usable_dataset_report(tmp_path, capsys):
    root = folder(tmp_path / "d")
    assert main([str(root), "--size", "16", "--n-jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "items 80 (3 genres)" in out
    assert re.search(r"users 6, thumbs 162, up-rate 0\.\d{3}", out)
    assert "skipped while loading: 2 (malformed_thumb_row: 1, thumb_unknown_item: 1)" in out
    assert "thumbs.csv:line 164: item 'zz' has no cover file under covers/" in out
    assert "thumbs.csv:line 165: cannot read user_id='u2' item_id='i005' thumb='maybe'" in out
    assert re.search(r"decoded every cover at 16px gray on 2 thread\(s\) in [\d.]+ s: \d+ covers/s, 78 ok, 2 undecodable", out)
    assert "covers/i000.jpg: zero-byte file" in out
    assert "covers/i001.jpg: not an image" in out
    assert "formats: JPEG 78" in out
    assert out.rstrip().endswith("verdict: USABLE")


def test_sample_and_no_decoding(tmp_path, capsys):
    root = folder(tmp_path / "d", bad_covers=False)
    assert main([str(root), "--decode-sample", "10", "--mode", "rgb"]) == 0
    out = capsys.readouterr().out
    assert "decoded a sample of 10 of 80 covers at 32px rgb" in out and "10 ok, 0 undecodable" in out
    assert main([str(root), "--decode-sample", "0"]) == 0
    assert "decoding skipped" in capsys.readouterr().out


def test_one_class_users_are_reported_not_fatal(tmp_path, capsys):
    thumbs = "user_id,item_id,thumb\nu1,i002,1\nu1,i003,1\nu2,i002,1\nu2,i004,0\n"
    root = folder(tmp_path / "d", n_items=6, bad_covers=False, thumbs=thumbs)
    assert main([str(root)]) == 0
    out = capsys.readouterr().out
    assert "users with only one kind of thumb: 1 (kept; user_auc cannot score them)" in out
    assert "u1: 2 thumb(s), all up" in out


def test_not_usable(tmp_path, capsys):
    # every user one-sided: user_auc is undefined
    root = folder(tmp_path / "a", n_items=6, bad_covers=False, thumbs="user_id,item_id,thumb\nu1,i002,1\nu2,i003,0\n")
    assert main([str(root)]) == 1
    out = capsys.readouterr().out
    assert "not usable: no user has both a thumb up and a thumb down" in out and "verdict: NOT USABLE" in out
    # no thumb names a cover
    root = folder(tmp_path / "b", n_items=4, bad_covers=False, thumbs="user_id,item_id,thumb\nu1,x,1\nu1,y,0\n")
    assert main([str(root)]) == 1
    assert "cannot load: thumbs.csv: no usable thumbs" in capsys.readouterr().out
    # every cover undecodable
    root = folder(tmp_path / "c", n_items=3, bad_covers=False, thumbs="user_id,item_id,thumb\nu1,i000,1\nu1,i001,0\n")
    for p in (root / "covers").iterdir():
        p.write_bytes(b"")
    assert main([str(root)]) == 1
    assert "not usable: none of the 3 decoded covers could be decoded" in capsys.readouterr().out
    # no covers/ folder at all
    (tmp_path / "e").mkdir()
    assert main([str(tmp_path / "e")]) == 1
    assert "no covers/ folder" in capsys.readouterr().out


def test_usage_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main([]) == 2
    assert main([str(tmp_path), "--size", "0"]) == 2
    assert main([str(tmp_path), "--bogus"]) == 2
    assert main(["--help"]) == 0
    assert "--decode-sample" in capsys.readouterr().out
