"""Optimizers and schedulers (registries) and the parameter groups of a run."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from mfsearch._registry import Registry
from mfsearch.config import OptimizerConfig, SchedulerConfig

ParamGroups = list[dict[str, object]]
OptimizerFactory = Callable[[ParamGroups, OptimizerConfig], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer, SchedulerConfig], object]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer", "optimizer.name")
SCHEDULERS: Registry[SchedulerFactory] = Registry("scheduler", "scheduler.name")


@OPTIMIZERS.register("adamw")
def _adamw(groups: ParamGroups, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adam")
def _adam(groups: ParamGroups, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("sgd")
def _sgd(groups: ParamGroups, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                           weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("rmsprop")
def _rmsprop(groups: ParamGroups, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=cfg.lr, momentum=cfg.momentum, alpha=0.9, eps=1.0,
                               weight_decay=cfg.weight_decay)


@SCHEDULERS.register("step")
def _step(optimizer: torch.optim.Optimizer, cfg: SchedulerConfig) -> object:
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma)


@SCHEDULERS.register("constant")
def _constant(optimizer: torch.optim.Optimizer, cfg: SchedulerConfig) -> object:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def param_groups(backbone: Iterable[nn.Parameter], head: Iterable[nn.Parameter],
                 loss: Iterable[nn.Parameter], cfg: OptimizerConfig) -> ParamGroups:
    """Backbone and embedding layer at ``lr``; loss parameters at ``lr * lr_ratio``."""
    groups: ParamGroups = [
        {"name": "backbone", "params": list(backbone), "lr": cfg.lr},
        {"name": "embedding", "params": list(head), "lr": cfg.lr},
    ]
    loss_params = list(loss)
    if loss_params:
        groups.append({"name": "loss", "params": loss_params, "lr": cfg.lr * cfg.lr_ratio})
    return [g for g in groups if g["params"]]


def build_optimizer(groups: ParamGroups, cfg: OptimizerConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(cfg.name)(groups, cfg)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: SchedulerConfig) -> object:
    return SCHEDULERS.get(cfg.name)(optimizer, cfg)
