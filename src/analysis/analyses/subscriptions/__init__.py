"""Subscriptions (contractual churn, where leaving is observed): contract-duration models
(sBG, BdW), Kaplan-Meier and Cox by plan, projected retention and residual lifetime value,
observed churn (C11) and cancellation reasons (C10).

The notebooks import the package (``from analysis.analyses import subscriptions``): every
public name of its modules is available here.
"""

from analysis.analyses.subscriptions.sbg import (
    DurationFit,
    cohort_durations,
    fit_bdw,
    fit_durations,
    fit_sbg,
    fitted_table,
    log_survival,
    mean_lifetime,
    parameter_draws,
    projected_retention,
    residual_periods,
    residual_value,
    survival,
)
