"""``python -m mfsearch.train``: train one model from the Hydra config tree in ``conf/``.

Under ``hydra/sweeper=mfsearch`` the sweeper sets ``trial.*`` and the run becomes an Optuna
trial (:func:`mfsearch.search.run_trial`): it reports every epoch and can be pruned.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from mfsearch.config import CONF_DIR, load_config


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float:
    """Validates the config, trains, and returns the best ``optimized_metric``."""
    config = load_config(cfg)
    if config.trial.trial_id is not None:
        from mfsearch.search import run_trial

        return run_trial(config)
    from mfsearch.training import run_training

    return run_training(config).metrics[config.optimized_metric]


if __name__ == "__main__":
    main()
