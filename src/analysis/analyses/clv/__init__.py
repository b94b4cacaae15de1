"""Customer lifetime value: the buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma) and
their predictions.

The notebooks import the package
(``from analysis.analyses import clv``): every public name of its
modules is available here.
"""

from analysis.analyses.clv.btyd import (
    FittedModel,
    bgnbd_expected,
    bgnbd_gradient,
    bgnbd_loglik_terms,
    bgnbd_p_alive,
    bgnbd_survival,
    compress,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_paretonbd,
    gg_expected_spend,
    gg_gradient,
    gg_loglik_terms,
    paretonbd_expected,
    paretonbd_loglik_terms,
    paretonbd_p_alive,
    paretonbd_survival,
    repeat_buyers,
    spend_independence,
)
from analysis.analyses.clv.report import (
    PUBLISHED_CDNOW,
    ValueReport,
    cdnow_reproduction,
    comparison_table,
    overview,
    value_report,
)
from analysis.analyses.clv.value import (
    PREDICTIONS,
    base_retention,
    calibration_table,
    customer_value,
    expected_purchases,
    holdout_ratio,
    implied_annual_retention,
    p_alive,
    plot_calibration,
    plot_value_deciles,
    value_deciles,
)
