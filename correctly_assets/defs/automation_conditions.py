"""Declarative automation: which assets follow their upstreams, and how far back."""

import datetime as dt

import dagster as dg


def follows_upstream(lookback_days: int, optional: tuple[str, ...] = ()) -> dg.AutomationCondition:
    """Dagster's `eager` condition (materialise once every upstream partition exists and any
    was updated; never while one is in progress), over the newest `lookback_days` days of
    partitions rather than only today's: the daily schedule fills yesterday's, and a fix
    re-generated for a recent day should reach the split and the model too. Older days
    are left to backfills, so a 90-day backfill does not trigger 90 trainings.

    An `optional` upstream (one materialised only on request) is followed when it updates,
    but its missing partitions hold nothing back."""
    condition = dg.AutomationCondition.eager().replace(
        "in_latest_time_window",
        dg.AutomationCondition.in_latest_time_window(dt.timedelta(days=lookback_days)),
    )
    if optional:
        condition = condition.replace("any_deps_missing", dg.AutomationCondition.any_deps_missing()
                                      .ignore(dg.AssetSelection.assets(*optional)))
    return condition


# train_split re-splits any of the last week's partitions whose generated texts changed.
SPLIT_FOLLOWS_TEXTS = follows_upstream(lookback_days=7)
# fine_tuned_model trains a day once every theme's split for it exists, and again when one
# changes; only yesterday's and today's, as each training covers all data up to its date.
MODEL_FOLLOWS_SPLITS = follows_upstream(lookback_days=2)
# model_evaluation and registered_model follow in the same run (they share the model's
# daily partitions), so a new model is evaluated and registered, and the promotion gate
# moves `production` when it passes, with no one clicking. A dpo_model, trained only on
# request, has the evaluation score it beside the SFT model once it is there.
EVALUATION_FOLLOWS_MODEL = follows_upstream(lookback_days=2, optional=("dpo_model",))
REGISTRY_FOLLOWS_EVALUATION = follows_upstream(lookback_days=2)
