"""Satisfaction and profit: indicators, correlations, regressions and claims C7-C10 and C12.

The notebooks import the package
(``from analysis.analyses import satisfaction``): every public name of its
modules is available here.
"""

from analysis.analyses.satisfaction.claims import (
    C7_MIN_MONTHS,
    C7_READINGS,
    RESPONSE_BANDS,
    CareChurn,
    RepurchaseRisk,
    ResponseBands,
    SatisfactionReadings,
    attributable_share,
    box_below,
    care_churn,
    claim_c7,
    claim_c8,
    claim_c9,
    claim_c10,
    claim_c12,
    repurchase_risk,
    response_time_bands,
    risk_ratio_ceiling,
    satisfaction_readings,
)
from analysis.analyses.satisfaction.correlations import (
    GROUP_MEASURES,
    MONTH_LEVEL_COLUMNS,
    Correlation,
    CorrelationTable,
    correlation,
    correlation_finding,
    correlation_table,
    group_correlation_table,
    group_indicators,
    plot_correlation_heatmap,
)
from analysis.analyses.satisfaction.indicators import (
    CORRECTION,
    DEFAULT_CONTROLS,
    PROFIT_INDICATORS,
    SATISFACTION_INDICATORS,
    as_float,
    five_points,
    interactions_missing_reason,
    require_columns,
    satisfaction_missing_reason,
    with_derived,
)
from analysis.analyses.satisfaction.link import (
    ACCOUNTING_PARTS,
    LINK_INDICATORS,
    SURVEY_INDICATOR,
    IndicatorLink,
    indicator_link,
    spearman_of_normal,
    split_indicators,
)
from analysis.analyses.satisfaction.regression import (
    OrderedLogit,
    PeriodEffect,
    ProfitRegression,
    RegressionChecks,
    SatisfactionDrivers,
    SatisfactionEffect,
    dropout_effect,
    hazard_per_point,
    lapse_times,
    period_effect,
    plot_regression_checks,
    profit_regression,
    satisfaction_drivers,
    spend_effect,
)
from analysis.analyses.satisfaction.report import (
    SatisfactionReport,
    care_followups,
    plot_care_churn,
    plot_repurchase,
    plot_response_bands,
    satisfaction_report,
)
