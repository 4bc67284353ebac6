"""covers.data.adapters: each source's real file format (fixtures written here, a few lines each,
gzip too) -> the folder format, and the downloader against a loopback HTTP server.
Everything is written under tmp_path; nothing is fetched from the internet."""
from __future__ import annotations

import gzip
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from covers.data.adapters import Thresholds, amazon, labelled, movielens
from covers.data.adapters.download import USER_AGENT, Downloader, RateLimiter
from covers.data.adapters.download import main as download_main
from covers.data.folder import FolderDataset


def jsonl(path: Path, records: list, gz: bool = False) -> Path:
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def image_bytes(fmt: str = "JPEG", colour=(200, 40, 40), size=(40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, fmt)
    return buf.getvalue()


def give_covers(root: Path, ids) -> None:
    (root / "covers").mkdir(exist_ok=True)
    for i in ids:
        (root / "covers" / f"{i}.jpg").write_bytes(image_bytes())


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_thresholds():
    assert Thresholds().apply([5, 4, 3.5, 3, 2.5, 2, 1, 0.5]).tolist() == [1, 1, -1, -1, -1, 0, 0, 0]
    assert Thresholds(5, 1).apply([5, 4, 2, 1]).tolist() == [1, -1, -1, 0]
    with pytest.raises(ValueError, match="down < up"):
        Thresholds(3, 3)


# --------------------------------------------------------------------------- Amazon 2018
def amazon_2018(tmp: Path, gz: bool = True) -> tuple[Path, Path]:
    def rev(user, asin, stars, t=1252800000):
        return {"overall": stars, "verified": True, "reviewTime": "09 13, 2009", "reviewerID": user, "asin": asin,
                "reviewerName": "x", "reviewText": "fine", "summary": "ok", "unixReviewTime": t}
    reviews = jsonl(tmp / "CDs_and_Vinyl.json.gz", [
        rev("A1", "0001393774", 5.0), rev("A1", "B000002", 1.0, 1252800100),
        rev("A2", "0001393774", 3.0), rev("A2", "B000002", 4.0),
        rev("A2", "B0NOMETA", 5.0), rev("A3", "B000NOIMG", 5.0),
        "not json at all", {"reviewerID": "A3", "asin": "B000002", "overall": "five", "unixReviewTime": 1},
        rev("A3", "B000002", 2.0)], gz=gz)
    meta = jsonl(tmp / "meta_CDs_and_Vinyl.json", [
        {"category": ["CDs & Vinyl", "Rock", "Classic Rock"], "tech1": "", "description": ["..."], "fit": "",
         "title": "Abbey Road &amp; More", "also_buy": [], "image": [], "tech2": "", "brand": "The Beatles",
         "feature": [], "rank": "1,234 in CDs & Vinyl (", "also_view": [], "main_cat": "Music", "similar_item": "",
         "date": "", "price": "$9.99", "asin": "0001393774", "details": {},
         "imageURL": ["https://images-na.ssl-images-amazon.com/images/I/51abc._SS40_.jpg"],
         "imageURLHighRes": ["https://images-na.ssl-images-amazon.com/images/I/51abc.jpg"]},
        {"category": ["CDs &amp; Vinyl", "Jazz"], "title": "Kind of Blue", "brand": "Miles Davis", "asin": "B000002",
         "imageURL": ["https://images-na.ssl-images-amazon.com/images/I/61xyz._SS40_.jpg"], "imageURLHighRes": []},
        {"category": [], "title": "No picture", "asin": "B000NOIMG", "imageURL": [], "imageURLHighRes": []},
        {"category": ["CDs & Vinyl", "Pop"], "title": "Dupe", "asin": "B000002", "imageURLHighRes": ["https://x/y.jpg"]},
        "{broken"])
    return reviews, meta


def test_amazon_2018(tmp_path, capsys):
    reviews, meta = amazon_2018(tmp_path)
    out = tmp_path / "out"
    assert amazon.main(["--reviews", str(reviews), "--meta", str(meta), "--out", str(out)]) == 0
    t = read(out / "thumbs.csv")
    assert t[["user_id", "item_id", "thumb"]].values.tolist() == [
        ["A1", "0001393774", "1"], ["A1", "B000002", "0"], ["A2", "B000002", "1"], ["A3", "B000002", "0"]]
    assert t["timestamp"].tolist()[:2] == ["1252800000", "1252800100"]
    items = read(out / "items.csv").set_index("item_id")
    assert items.index.tolist() == ["0001393774", "B000002"]  # leading zeros kept: ids are strings
    assert items.loc["0001393774", ["title", "artist", "genre", "genres"]].tolist() == [
        "Abbey Road & More", "The Beatles", "Rock", "Rock|Classic Rock"]
    assert items.loc["B000002", "genre"] == "Jazz" and items.loc["B000002", "title"] == "Kind of Blue"  # first meta line kept
    urls = read(out / "cover_urls.csv").set_index("item_id")["url"]
    assert urls["0001393774"] == "https://images-na.ssl-images-amazon.com/images/I/51abc.jpg"
    assert urls["B000002"] == "https://images-na.ssl-images-amazon.com/images/I/61xyz.jpg"  # 40 px thumb -> full image
    c = json.loads((out / "adapter_report.json").read_text())["counts"]
    assert c["reviews_read"] == 7 and c["review_malformed_lines"] == 2
    assert c["reviews_dropped_item_not_in_meta"] == 1 and c["reviews_dropped_item_without_image_url"] == 1
    assert (c["ratings_up"], c["ratings_down"], c["ratings_dropped_between_thresholds"]) == (2, 2, 1)
    assert (c["meta_lines"], c["meta_malformed_lines"], c["meta_duplicate_items"]) == (5, 1, 1)
    assert c["meta_items_without_image_url"] == 1
    assert (c["items_written"], c["users_written"], c["thumbs_written"]) == (2, 3, 4)
    printed = capsys.readouterr().out
    assert "ratings_dropped_between_thresholds" in printed and "adapter_report.json" in printed
    give_covers(out, ["0001393774", "B000002"])
    ds = FolderDataset(str(out)).load()
    assert (ds.n_items, ds.stats()["n_users"], ds.stats()["n_thumbs"]) == (2, 3, 4)
    assert ds.items["item_id"].tolist() == ["0001393774", "B000002"] and ds.skipped.total == 0


def test_amazon_thresholds_and_min_user_thumbs(tmp_path):
    reviews, meta = amazon_2018(tmp_path, gz=False)
    out = tmp_path / "o"
    assert amazon.main(["--reviews", str(reviews), "--meta", str(meta), "--out", str(out), "--up", "5", "--down", "1",
                        "--min-user-thumbs", "2"]) == 0
    c = json.loads((out / "adapter_report.json").read_text())["counts"]
    assert (c["ratings_up"], c["ratings_down"], c["ratings_dropped_between_thresholds"]) == (1, 1, 3)
    assert c["thumbs_dropped_user_below_min"] == 0 and c["thumbs_written"] == 2  # A1: 5 up, 1 down
    with pytest.raises(SystemExit):
        amazon.main(["--reviews", str(reviews), "--meta", str(meta), "--out", str(out), "--up", "2", "--down", "4"])


def test_amazon_2023_and_ratings_csv(tmp_path):
    def rev(user, parent, stars, ms):
        return {"rating": stars, "title": "t", "text": "x", "images": [], "asin": parent + "-child", "parent_asin": parent,
                "user_id": user, "timestamp": ms, "helpful_vote": 0, "verified_purchase": True}
    reviews = jsonl(tmp_path / "CDs_and_Vinyl.jsonl.gz", [
        rev("AG1", "B01P", 5.0, 1588687728923), rev("AG1", "B02P", 2.0, 1588687729000),
        rev("AG2", "B01P", 4.0, 1600000000000), rev("AG2", "B03P", 1.0, 1600000000001)], gz=True)
    meta = jsonl(tmp_path / "meta_CDs_and_Vinyl.jsonl.gz", [
        {"main_category": "Digital Music", "title": "Album One", "average_rating": 4.5, "rating_number": 10,
         "features": [], "description": [], "price": None, "videos": [], "store": "Band", "details": {},
         "categories": ["CDs & Vinyl", "Dance & Electronic", "House"], "parent_asin": "B01P", "bought_together": None,
         "images": [{"thumb": "https://m/T1.jpg", "large": "https://m/L1.jpg", "variant": "PT01", "hi_res": "https://m/H1.jpg"},
                    {"thumb": "https://m/TM.jpg", "large": "https://m/LM.jpg", "variant": "MAIN", "hi_res": None}]},
        {"main_category": "Digital Music", "title": "Album Two", "store": "Duo", "categories": [], "parent_asin": "B02P",
         "images": {"thumb": ["https://m/T2.jpg"], "large": ["https://m/L2.jpg"], "variant": ["MAIN"],
                    "hi_res": ["https://m/H2.jpg"]}},  # the Hugging Face dict-of-lists form
        {"main_category": "Digital Music", "title": "No image", "categories": [], "parent_asin": "B03P", "images": []}],
        gz=True)
    out = tmp_path / "o"
    amazon.convert(reviews, meta, out, Thresholds(), prefer="large")
    t = read(out / "thumbs.csv")
    assert t.values.tolist() == [["AG1", "B01P", "1", "1588687728"], ["AG1", "B02P", "0", "1588687729"],
                                 ["AG2", "B01P", "1", "1600000000"]]  # ms -> s; parent_asin is the item
    items = read(out / "items.csv").set_index("item_id")
    assert items.loc["B01P", ["title", "artist", "genre", "genres"]].tolist() == [
        "Album One", "Band", "Dance & Electronic", "Dance & Electronic|House"]
    assert items.loc["B02P", "genre"] == ""
    urls = read(out / "cover_urls.csv").set_index("item_id")["url"].to_dict()
    assert urls == {"B01P": "https://m/LM.jpg", "B02P": "https://m/L2.jpg"}  # MAIN first, "large" preferred
    amazon.convert(reviews, meta, out, Thresholds(), prefer="hi_res")
    assert read(out / "cover_urls.csv").set_index("item_id")["url"].to_dict() == {
        "B01P": "https://m/LM.jpg", "B02P": "https://m/H2.jpg"}  # MAIN has no hi_res: its large
    # the 2018 "ratings only" CSV: item,user,rating,timestamp, no header
    csv_path = tmp_path / "ratings.csv"
    csv_path.write_text("B01P,AG9,4.0,1400000000\nB02P,AG9,1.0,1400000001\nB01P,AG8,3.0,1400000002\nbad line\n")
    rep = amazon.convert(csv_path, meta, tmp_path / "c", Thresholds())
    assert read(tmp_path / "c" / "thumbs.csv")[["user_id", "item_id", "thumb"]].values.tolist() == [
        ["AG9", "B01P", "1"], ["AG9", "B02P", "0"]]
    assert rep.counts["review_malformed_lines"] == 1 and rep.counts["ratings_dropped_between_thresholds"] == 1


# --------------------------------------------------------------------------- MovieLens
def posters(folder: Path, names: list[str]) -> Path:
    folder.mkdir()
    for n in names:
        (folder / n).write_bytes(image_bytes("PNG" if n.endswith(".png") else "JPEG"))
    return folder


def test_movielens_latest_csv(tmp_path):
    (tmp_path / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        "1,1,4.5,964982703\n1,2,3.5,964981247\n1,3,2.0,964982224\n"   # up, dropped, down
        "2,1,0.5,964982931\n2,2,5.0,964983815\n2,4,5.0,964983815\n"   # down, up, no poster
        "3,3,2.5,964982400\n3,1,x,964982400\n")                        # dropped, malformed
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n'
        '2,"American President, The (1995)",Comedy|Drama|Romance\n3,Some Film,(no genres listed)\n'
        '4,No Poster (2001),Drama\n')
    (tmp_path / "links.csv").write_text("movieId,imdbId,tmdbId\n1,0114709,862\n2,0112346,9087\n3,0113228,\n")
    src = posters(tmp_path / "posters", ["1.jpg", "2.png", "3.jpg"])
    out = tmp_path / "out"
    assert movielens.main(["--ratings", str(tmp_path / "ratings.csv"), "--movies", str(tmp_path / "movies.csv"),
                           "--posters", str(src), "--links", str(tmp_path / "links.csv"), "--out", str(out)]) == 0
    t = read(out / "thumbs.csv")
    assert t[["user_id", "item_id", "thumb"]].values.tolist() == [["1", "1", "1"], ["1", "3", "0"], ["2", "1", "0"],
                                                                ["2", "2", "1"]]
    items = read(out / "items.csv").set_index("item_id")
    assert items.loc["1", ["title", "year", "genre", "genres", "tmdbId"]].tolist() == [
        "Toy Story (1995)", "1995", "Adventure", "Adventure|Animation|Children|Comedy|Fantasy", "862"]
    assert items.loc["2", "title"] == "American President, The (1995)"
    assert items.loc["3", ["genre", "genres", "year"]].tolist() == ["", "", ""]
    assert (out / "covers" / "2.png").is_symlink()
    c = json.loads((out / "adapter_report.json").read_text())["counts"]
    assert (c["ratings_read"], c["ratings_malformed"], c["ratings_dropped_no_poster"]) == (8, 1, 1)
    assert (c["ratings_up"], c["ratings_down"], c["ratings_dropped_between_thresholds"]) == (2, 2, 2)
    ds = FolderDataset(str(out)).load()
    assert (ds.n_items, ds.stats()["n_users"], ds.stats()["n_thumbs"], ds.skipped.total) == (3, 2, 4, 0)
    with pytest.raises(SystemExit, match="not empty; pass --force"):
        movielens.convert(tmp_path / "ratings.csv", tmp_path / "movies.csv", src, out)


def test_movielens_dat_latin1_and_tmdb_posters(tmp_path):
    with gzip.open(tmp_path / "ratings.dat.gz", "wb") as f:
        f.write(b"1::10::5::978300760\n1::20::1::978302109\n2::10::3::978301968\n2::20::4::978300275\n")
    (tmp_path / "movies.dat").write_bytes("10::Misérables, Les (1995)::Drama|Musical\n20::Heat (1995)::Action|Crime|Thriller\n"
                                          .encode("latin-1"))
    (tmp_path / "links.csv").write_text("movieId,imdbId,tmdbId\n10,0113828,48750\n20,0113277,949\n")
    src = posters(tmp_path / "p", ["48750.jpg", "949.jpg", "12345.jpg"])
    out = tmp_path / "out"
    movielens.convert(tmp_path / "ratings.dat.gz", tmp_path / "movies.dat", src, out, links=tmp_path / "links.csv",
                      poster_key="tmdbId", copy=True)
    assert read(out / "thumbs.csv")[["user_id", "item_id", "thumb"]].values.tolist() == [
        ["1", "10", "1"], ["1", "20", "0"], ["2", "20", "1"]]
    items = read(out / "items.csv").set_index("item_id")
    assert items.loc["10", ["title", "genre", "genres"]].tolist() == ["Misérables, Les (1995)", "Drama", "Drama|Musical"]
    assert not (out / "covers" / "10.jpg").is_symlink() and (out / "covers" / "20.jpg").is_file()
    # imdbId keys match with or without "tt" and leading zeros
    src2 = posters(tmp_path / "p2", ["tt0113828.jpg", "113277.jpg"])
    movielens.convert(tmp_path / "ratings.dat.gz", tmp_path / "movies.dat", src2, tmp_path / "o2",
                      links=tmp_path / "links.csv", poster_key="imdbId")
    assert sorted(read(tmp_path / "o2" / "items.csv")["item_id"]) == ["10", "20"]


# --------------------------------------------------------------------------- labelled covers
def labelled_folder(tmp: Path) -> Path:
    src = tmp / "src"
    for g, colours in {"Rock": [(200, 0, 0), (180, 20, 0), (9, 9, 9)], "Pop": [(0, 0, 200), (0, 20, 180), (9, 9, 9)],
                       "Jazz": [(0, 200, 0), (20, 180, 0)]}.items():
        (src / "images" / g).mkdir(parents=True)
        for k, c in enumerate(colours):
            name = "shared.jpg" if c == (9, 9, 9) else f"{g.lower()}{k}.jpg"
            (src / "images" / g / name).write_bytes(image_bytes(colour=c))
    rows = ["image_path,genre,release_id"]
    for p in sorted((src / "images").rglob("*.jpg")):
        rows.append(f"{p.relative_to(src)},{p.parent.name},{p.stem}")
    rows += ["images/Rock/missing.jpg,Rock,1", "images/Jazz/jazz0.jpg,,2"]
    (src / "labels.csv").write_text("\n".join(rows) + "\n")
    return src


@pytest.mark.parametrize("policy", ["pick", "first", "drop"])
def test_labelled(tmp_path, policy, capsys):
    src = labelled_folder(tmp_path)
    out = tmp_path / "out"
    assert labelled.main(["--images", str(src), "--labels", str(src / "labels.csv"), "--out", str(out),
                          "--n-users", "30", "--mean-thumbs", "4", "--multi-genre", policy]) == 0
    items = read(out / "items.csv").set_index("item_id")
    c = json.loads((out / "adapter_report.json").read_text())["counts"]
    assert (c["label_rows"], c["rows_image_missing"], c["rows_without_genre"]) == (10, 1, 1)
    assert (c["distinct_images"], c["rows_merged_same_file"], c["multi_genre_images"]) == (7, 1, 1)
    if policy == "drop":
        assert "shared" not in items.index and len(items) == 6
    else:
        shared = items.loc["shared"]
        assert (shared["genres"], shared["n_genres"]) == ("Pop|Rock", "2")  # one item, both labels
        assert shared["genre"] in {"Pop", "Rock"} and (policy != "first" or shared["genre"] == "Pop")
        assert len(items) == 7
    assert items.loc["jazz0", ["genre", "genres", "release_id", "source"]].tolist() == [
        "Jazz", "Jazz", "jazz0", "images/Jazz/jazz0.jpg"]
    t = read(out / "thumbs.csv")
    assert list(t.columns) == ["user_id", "item_id", "thumb", "timestamp", "true_score"]  # oracle needs true_score
    assert set(t["item_id"]) <= set(items.index)
    assert all((out / "covers" / f"{i}.jpg").is_symlink() for i in items.index)
    ds = FolderDataset(str(out)).load()
    assert ds.n_items == len(items) and ds.stats()["n_thumbs"] == len(t) and ds.skipped.total == 0
    assert "true_score" in ds.thumbs and "multi_genre_images" in capsys.readouterr().out


def test_labelled_is_deterministic(tmp_path):
    src = labelled_folder(tmp_path)
    a = labelled.convert(src, src / "labels.csv", tmp_path / "a", n_users=20, mean_thumbs=3)
    b = labelled.convert(src, src / "labels.csv", tmp_path / "b", n_users=20, mean_thumbs=3, copy=True)
    assert (tmp_path / "a" / "thumbs.csv").read_text() == (tmp_path / "b" / "thumbs.csv").read_text()
    assert a.counts == b.counts


# --------------------------------------------------------------------------- downloader
class Server:
    """Loopback HTTP server with the answers real image hosts give."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.agents: set[str] = set()
        jpg, png = image_bytes("JPEG"), image_bytes("PNG", (0, 0, 255))
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def send(self, code, body=b"", ctype="image/jpeg", headers=()):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                n = server.hits[self.path] = server.hits.get(self.path, 0) + 1
                server.agents.add(self.headers.get("User-Agent", ""))
                if self.path.startswith("/img/"):
                    self.send(200, jpg)
                elif self.path == "/png":
                    self.send(200, png, "image/png")
                elif self.path == "/missing":
                    self.send(404, b"not found", "text/plain")
                elif self.path == "/flaky":
                    self.send(500, b"oops", "text/plain") if n == 1 else self.send(200, jpg)
                elif self.path == "/ratelimited":
                    self.send(429, b"slow down", "text/plain", [("Retry-After", "0")]) if n == 1 else self.send(200, png, "image/png")
                elif self.path == "/html":
                    self.send(200, b"<!DOCTYPE html><html>captcha</html>", "text/html")
                elif self.path == "/truncated":
                    self.send(200, jpg[: len(jpg) // 2])
                else:
                    self.send(404, b"", "text/plain")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def test_downloader(tmp_path, server, capsys):
    root = tmp_path / "ds"
    root.mkdir()
    u = server.url
    (root / "cover_urls.csv").write_text(
        "item_id,url\n"
        f"0001,{u}/img/a.jpg\nmissing,{u}/missing\nflaky,{u}/flaky\nhtml,{u}/html\nlimited,{u}/ratelimited\n"
        f"cut,{u}/truncated\n../evil,{u}/img/b.jpg\nlocal,file:///etc/hostname\n0001,{u}/img/again.jpg\n"
        f"closed,http://127.0.0.1:9/nothing\n")
    d = Downloader(root, rate=100, workers=2, retries=2, timeout=3, backoff=0.01, progress=False)
    counts = d.run()
    assert counts == {"urls": 10, "duplicate_rows": 1, "already_present": 0, "skipped_permanent_failure": 0,
                      "downloaded": 3, "failed": 6}
    files = sorted(p.name for p in (root / "covers").iterdir())
    assert files == ["0001.jpg", "flaky.jpg", "limited.png"]  # extension from the decoded format; no temp files left
    assert server.hits["/flaky"] == 2 and server.hits["/ratelimited"] == 2 and server.hits["/missing"] == 1
    assert server.agents == {USER_AGENT} and USER_AGENT.startswith("covers/")
    f = read(root / "download_failures.csv").set_index("item_id")
    assert f.loc["missing", ["status", "error", "permanent"]].tolist() == ["404", "HTTP 404 Not Found", "True"]
    assert f.loc["html", "error"].startswith("not a usable image: not an image") and f.loc["html", "permanent"] == "False"
    assert f.loc["cut", "error"].startswith("not a usable image: truncated")
    assert f.loc["../evil", "error"] == "item id is not a safe file name"
    assert f.loc["local", "error"] == "not an http(s) URL"
    assert f.loc["closed", "attempts"] == "3" and "URLError" in f.loc["closed", "error"]
    ds_thumbs = "user_id,item_id,thumb\nu1,0001,1\nu1,flaky,0\nu1,limited,1\n"
    (root / "thumbs.csv").write_text(ds_thumbs)
    assert FolderDataset(str(root)).load().n_items == 3

    # resume: present covers are not fetched again, permanent failures are not retried, transient ones are
    before = dict(server.hits)
    assert download_main([str(root), "--rate", "100", "--retries", "0", "--backoff", "0.01", "--quiet"]) == 1
    assert server.hits["/img/a.jpg"] == before["/img/a.jpg"] and server.hits["/missing"] == 1
    assert server.hits["/html"] == before["/html"] + 1
    assert "already_present 3, skipped_permanent_failure 3" in capsys.readouterr().out
    assert set(read(root / "download_failures.csv")["item_id"]) == {"missing", "html", "cut", "../evil", "local", "closed"}


def test_downloader_stops_when_the_server_refuses(tmp_path, server):
    root = tmp_path / "ds"
    root.mkdir()
    (root / "cover_urls.csv").write_text("item_id,url\n" + "".join(f"m{k},{server.url}/missing\n" for k in range(8)))
    counts = Downloader(root, rate=100, workers=1, retries=0, max_consecutive_failures=3, progress=False).run()
    assert counts["failed"] == 8 and server.hits["/missing"] == 3  # the rest were not tried
    assert read(root / "download_failures.csv")["error"].str.startswith("not tried").sum() == 5


def test_rate_limiter(monkeypatch):
    """On a fake clock: request starts are spaced 1/rate apart, and idle time buys no burst."""
    from covers.data.adapters import download

    clock, slept = [100.0], []

    def sleep(d):
        slept.append(d)
        clock[0] += d

    monkeypatch.setattr(download.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(download.time, "sleep", sleep)
    lim = RateLimiter(20.0)
    for _ in range(6):
        lim.wait()
    assert slept == pytest.approx([0.05] * 5)  # the first starts at once, then 5 intervals of 50 ms
    clock[0] += 10.0  # a long pause
    slept.clear()
    lim.wait()
    lim.wait()
    assert slept == pytest.approx([0.05])
    unlimited = RateLimiter(0)
    slept.clear()
    for _ in range(3):
        unlimited.wait()
    assert slept == []
