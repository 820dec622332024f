"""``python -m mfsearch.evaluate checkpoint=<path>``: a checkpoint's test metrics."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from mfsearch.config import CONF_DIR, EvaluateConfig, build_dataclass


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> dict[str, float]:
    """Scores the checkpoint's test split, prints the metric table, returns the metrics."""
    from mfsearch.training import evaluate_checkpoint, metrics_table, write_evaluation

    data = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(data, dict)
    options = build_dataclass(EvaluateConfig, {str(k): v for k, v in data.items()})
    result = evaluate_checkpoint(options)
    config = result.config
    print(f"checkpoint {options.checkpoint} (epoch {result.epoch}): model {config.model.name}, "
          f"dataset {config.dataset.name}, test split")
    print(metrics_table(result.metrics))
    if options.output:
        print(f"metrics written to {write_evaluation(result, str(options.checkpoint), options.output)}")
    return result.metrics


if __name__ == "__main__":
    main()
