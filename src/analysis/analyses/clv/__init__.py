"""Customer lifetime value: the buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma) and
their predictions.

The notebooks import the package
(``from analysis.analyses import clv``): every public name of its
modules is available here.
"""

from analysis.analyses.clv.btyd import (
    S_COMMON,
    FittedModel,
    bgnbd_expected,
    bgnbd_gradient,
    bgnbd_loglik_terms,
    bgnbd_p_alive,
    bgnbd_survival,
    common_dropout_loglik_terms,
    compress,
    fit_bgnbd,
    fit_by_ml,
    fit_gamma_gamma,
    fit_paretonbd,
    fit_paretonbd_common_dropout,
    fit_problem,
    gg_expected_spend,
    gg_gradient,
    gg_loglik_terms,
    model_to_frame,
    models_from_frame,
    paretonbd_expected,
    paretonbd_loglik_terms,
    paretonbd_p_alive,
    paretonbd_survival,
    repeat_buyers,
    spend_independence,
)
from analysis.analyses.clv.report import (
    ValueReport,
    choose_model,
    comparison_table,
    fit_pareto_family,
    fit_purchase_models,
    forecast_text,
    headline_text,
    interval_text,
    overview,
    purchase_models_frame,
    spend_depends_on_frequency,
    value_report,
)
from analysis.analyses.clv.value import (
    PREDICTIONS,
    RetentionForecast,
    base_retention,
    calibration_table,
    customer_value,
    expected_purchases,
    expected_spend,
    holdout_ratio,
    implied_annual_retention,
    mean_clv,
    p_alive,
    plot_calibration,
    plot_value_deciles,
    retention_forecast,
    spend_by_frequency,
    value_deciles,
)
