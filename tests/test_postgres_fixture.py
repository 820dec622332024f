from __future__ import annotations

import optuna


def test_optuna_study_round_trips_through_postgres(postgres_url):
    storage = optuna.storages.RDBStorage(postgres_url)
    study = optuna.create_study(storage=storage, study_name="probe", direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    loaded = optuna.load_study(study_name="probe", storage=postgres_url)
    assert [t.params for t in loaded.trials] == [t.params for t in study.trials]
    assert loaded.best_value == max(t.value for t in study.trials)
