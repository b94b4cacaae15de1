"""Subscriptions (contractual churn, where leaving is observed): contract-duration models
(sBG, BdW), Kaplan-Meier and Cox by plan, projected retention and residual lifetime value,
observed churn (C11) and cancellation reasons (C10).

The notebooks import the package (``from analysis.analyses import subscriptions``): every
public name of its modules is available here.
"""

from analysis.analyses.subscriptions.observed import (
    CARE_WORDS,
    PlanHazards,
    care_share,
    claim_c10_reasons,
    claim_c11_observed,
    customer_spells,
    is_care_reason,
    observed_annual_churn,
    plan_hazards,
    reasons_table,
    rmst,
    rmst_by_plan,
)
from analysis.analyses.subscriptions.report import (
    PlanForecast,
    SubscriptionReport,
    churn_text,
    hazard_table,
    parameter_table,
    plan_table,
    plot_model_fit,
    plot_retention_by_plan,
    projection_text,
    reasons_view,
    subscription_report,
    subscriptions_section,
)
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
from analysis.analyses.subscriptions.source import (
    BUSINESS_KINDS,
    business_kind,
    checked,
    from_snapshot,
    subscriptions_of,
)
