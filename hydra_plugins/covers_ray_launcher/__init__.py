"""Hydra discovers launchers only under the ``hydra_plugins`` namespace; the work is in covers.launch_ray."""
