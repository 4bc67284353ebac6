"""The figures every run logs: most-similar covers, AUC bars, ROC curves."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: runs on servers and in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402



def display(method: str) -> str:
    return "covers" if method == "method" else method


def neighbour_grid(path: Path, covers, nb_ids: np.ndarray, queries: np.ndarray,
                   labels: np.ndarray | None, n_nb: int, thumb: int = 64) -> Path:
    """Each row: a query cover, then its nearest covers by the index (like the seed's figures)."""
    rows, cols = len(queries), n_nb + 1
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.2), squeeze=False)
    for r, q in enumerate(queries):
        ids = [q] + [int(j) for j in nb_ids[q, :n_nb]]
        for c, j in enumerate(ids):
            ax = axes[r, c]
            ax.axis("off")
            if j < 0:
                continue
            ax.imshow(covers.one(j, thumb, "rgb"))
            if labels is not None:
                ax.set_title(str(labels[j])[:10], fontsize=6, color="black" if c == 0 or labels[j] == labels[q] else "red")
    axes[0, 0].set_title(("query\n" + str(labels[queries[0]])[:10]) if labels is not None else "query", fontsize=6)
    fig.suptitle("Most similar covers (first column: query; red label: other genre)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def auc_bars(path: Path, metrics: dict, methods: list[str]) -> Path:
    """user_auc of the method and each baseline with its 95% interval and the 0.5 chance line.

    thumbs_auc is drawn only for the covers and for user_mean: user_mean knows nothing but how
    generous each user is, so its thumbs_auc shows what the global number rewards (the cover
    method's kNN vote follows the user's generosity too)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 + 1.1 * len(methods)), 3.8))  # room for the labels with one bar
    x = np.arange(len(methods))
    sfx = ["" if m == "method" else f"_{m}" for m in methods]
    u = np.array([metrics[f"user_auc{s}"] for s in sfx])
    lo = np.array([metrics[f"user_auc_lo{s}"] for s in sfx])
    hi = np.array([metrics[f"user_auc_hi{s}"] for s in sfx])
    ax.bar(x, u, 0.6, yerr=np.vstack([u - lo, hi - u]), capsize=3, label="user_auc (95% CI)",
           color=["tab:orange" if m == "method" else "tab:blue" for m in methods])
    shown = [j for j, m in enumerate(methods) if m in ("method", "user_mean")]
    if shown:
        ax.plot(x[shown], [metrics[f"thumbs_auc{sfx[j]}"] for j in shown], "kD", mfc="none", ms=6,
                label="thumbs_auc (global: rewards generous users)")
    ax.axhline(0.5, color="k", ls="--", lw=1, label="random = 0.5")
    ax.set_xticks(x, [display(m) for m in methods], rotation=20, fontsize=8)
    ax.set_ylim(0.3, 1.0)
    ax.set_ylabel("AUC")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roc_curves(path: Path, scores: pd.DataFrame, methods: list[str]) -> Path:
    fig, ax = plt.subplots(figsize=(4, 4))
    y = scores["thumb"].to_numpy()
    for m in methods:
        fpr, tpr, _ = roc_curve(y, scores[f"score_{m}"].to_numpy())
        ax.plot(fpr, tpr, label=display(m), lw=1.2)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(out: Path, ds, nb, metrics: dict, scores: pd.DataFrame, methods: list[str], s) -> list[Path]:
    sets = ds.genres()
    # one label per cover: its genre, or its genres joined (a cover in two genres), None without
    labels = None if sets is None else np.array(["|".join(sorted(g)) if g else None for g in sets], dtype=object)
    rng = np.random.default_rng(s.seed)
    if labels is not None:  # one query per genre, so every style shows up
        uniq = pd.unique(labels)[: s.grid_queries]
        on_style = (ds.items["style"] == ds.items["genre"]).to_numpy() if "style" in ds.items else np.ones(len(labels), bool)
        # prefer covers drawn in their own genre's style, when the dataset says which those are
        queries = np.array([rng.choice(np.flatnonzero((labels == g) & on_style) if ((labels == g) & on_style).any()
                                       else np.flatnonzero(labels == g)) for g in uniq])
    else:
        queries = rng.choice(ds.n_items, size=min(s.grid_queries, ds.n_items), replace=False)
    return [
        neighbour_grid(out / "similar_covers.png", ds.covers, nb.ids, queries, labels, s.grid_neighbours),
        auc_bars(out / "auc.png", metrics, methods),
        roc_curves(out / "roc.png", scores, methods),
    ]


# --------------------------------------------------------------------------- a sweep over indexes
def pareto_frontier(recall: np.ndarray, qps: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both recall and QPS, by recall ascending
    (ann-benchmarks' frontier: from the highest recall down, keep a point only if it is faster
    than every point of higher recall)."""
    order = np.lexsort((-qps, -recall))  # highest recall first, the fastest first among equals
    keep, best = [], -np.inf
    for i in order:
        if qps[i] > best:
            keep.append(i)
            best = qps[i]
    return np.array(keep[::-1], dtype=int)


def _families(runs: pd.DataFrame):
    fams = sorted(runs["family"].unique())
    colours = plt.get_cmap("tab10")
    return [(f, runs[runs["family"] == f], colours(i % 10), "osD^v<>ph*"[i % 10]) for i, f in enumerate(fams)]


def recall_qps(path: Path, runs: pd.DataFrame, k: int = 10) -> Path:
    """ann-benchmarks' plot of a sweep: x = index recall@k against brute force, y = queries per
    second (log), one line per index family along its Pareto frontier, every setting a faint dot;
    one panel for one query at a time on one thread, one for a batch on the query threads.
    ``runs``: columns family, recall, qps_single, qps_batched."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True)
    for ax, col, title in ((axes[0], "qps_single", "one query at a time, 1 thread"),
                           (axes[1], "qps_batched", "batched, query threads = n_jobs")):
        for fam, g, c, mk in _families(runs):
            r, q = g["recall"].to_numpy(float), g[col].to_numpy(float)
            ax.scatter(r, q, color=c, alpha=0.25, s=18, marker=mk)
            f = pareto_frontier(r, q)
            ax.plot(r[f], q[f], color=c, marker=mk, lw=1.6, ms=6, label=f"{fam} ({len(g)} runs)")
        ax.set_yscale("log")
        ax.set_xlabel(f"recall@{k} (vs brute force)")
        ax.set_ylabel("queries per second (log)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8, loc="best")
    fig.suptitle("Recall vs speed per index (Pareto frontier; up and right is better)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def auc_recall(path: Path, runs: pd.DataFrame, k: int = 10) -> Path:
    """What an approximate index costs the cover method: user_auc (95% interval) against the
    index's recall@k, one colour per index family; a second panel with the recommendations'
    recall@10 where the runs ranked (``eval.ranking``). ``runs``: family, recall, user_auc,
    user_auc_lo, user_auc_hi[, rec_recall]."""
    has_rec = "rec_recall" in runs and runs["rec_recall"].notna().any()
    fig, axes = plt.subplots(1, 2 if has_rec else 1, figsize=(11 if has_rec else 6, 4.4), squeeze=False)
    for fam, g, c, mk in _families(runs):
        r, u = g["recall"].to_numpy(float), g["user_auc"].to_numpy(float)
        err = np.vstack([u - g["user_auc_lo"].to_numpy(float), g["user_auc_hi"].to_numpy(float) - u])
        axes[0, 0].errorbar(r, u, yerr=err, fmt=mk, color=c, capsize=3, ms=6, label=fam)
        if has_rec:
            axes[0, 1].plot(r, g["rec_recall"].to_numpy(float), mk, color=c, ms=7, label=fam)
    axes[0, 0].axhline(0.5, color="k", ls="--", lw=0.8, label="chance (0.5)")
    axes[0, 0].set_ylabel("user_auc of the cover method (95% CI)")
    axes[0, 0].set_title("thumb prediction (kNN vote over index neighbours)", fontsize=10)
    if has_rec:
        axes[0, 1].set_ylabel("recall@10 of recommendations")
        axes[0, 1].set_title("recommendations retrieved through the index", fontsize=10)
    for ax in axes.ravel():
        ax.set_xlabel(f"index recall@{k} (vs brute force)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
