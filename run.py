"""Entry point: ``python run.py`` (one job) or ``python run.py -m features=pixel,gist`` (a sweep)."""
import hydra
from omegaconf import DictConfig

from covers.app.task import run_job


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    summary = run_job(cfg)
    # the return value is what optimising sweepers (search=optuna) maximise; others ignore it
    return float(summary.get("metrics", {}).get(cfg.get("objective", "user_auc"), float("nan")))


if __name__ == "__main__":
    main()
