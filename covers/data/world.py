"""``dataset=synthetic``: the embedded cover world, generated once and then read like any folder."""
from __future__ import annotations

from pathlib import Path

from covers.cache import key_of
from covers.data.base import Dataset
from covers.data.folder import FolderDataset


class SyntheticWorld:
    """Generates the world into ``<cache_dir>/worlds/<key>`` (key = hash of these parameters)
    on first use, then loads it through the folder-format loader, so the synthetic and the real
    path share one reader."""

    def __init__(self, n_items: int = 3000, n_users: int = 600, mean_thumbs_per_user: int = 50,
                 n_genres: int = 8, off_style: float = 0.2, image_size: int = 128, seed: int = 0,
                 **model: float) -> None:
        self.n_items = n_items
        self.n_users = n_users
        self.mean_thumbs_per_user = mean_thumbs_per_user
        self.n_genres = n_genres
        self.off_style = off_style
        self.image_size = image_size
        self.seed = seed
        self.model = dict(model)  # signal strengths etc., passed to the generator as is

    def params(self) -> dict:
        return {k: v for k, v in vars(self).items()}

    def path(self, cache_dir: str | Path | None) -> Path:
        from covers.data import synthetic

        if cache_dir is None:
            raise ValueError("the synthetic world needs paths.cache_dir to be generated into")
        key = key_of(self.params(), getattr(synthetic, "GENERATOR_VERSION", "1"))
        return Path(cache_dir) / "worlds" / f"synthetic-{self.n_items}-{key[:12]}"

    def load(self, cache_dir: str | Path | None = None) -> Dataset:
        from covers.data import synthetic

        path = self.path(cache_dir)
        synthetic.generate_world(
            path, n_items=self.n_items, n_users=self.n_users, mean_thumbs_per_user=self.mean_thumbs_per_user,
            n_genres=self.n_genres, off_style=self.off_style, image_size=self.image_size, seed=self.seed,
            **self.model,
        )
        return FolderDataset(str(path), on_error="fail", name="synthetic").load()
