"""Where extraction chunks run: ``engine=local`` (worker processes here) or ``engine=dask``.

Every engine follows :class:`covers.features.engines.base.Engine`; engines only decide where the
same code runs, so every engine gives a bit-identical matrix and none is part of a cache key.
"""
