"""Hydra discovers launchers only under the ``hydra_plugins`` namespace; the work is in covers.app.ray_launcher."""
