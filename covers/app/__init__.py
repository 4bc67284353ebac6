"""The operational shell around the pipeline: the Hydra task, job isolation, launchers, the CLI,
``validate`` and the sweep summary. Nothing below ``covers/app`` imports it."""
