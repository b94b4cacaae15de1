"""How concentrated revenue and profit are: the 80/20 rule (C1), the whale curve (C2), small
customers' cost (C6) and the Pareto tail.

The notebooks import the package
(``from analysis.analyses import concentration``): every public name of its
modules is available here.
"""

from analysis.analyses.concentration.base import (
    ASSUMED,
    PROFIT,
    REVENUE,
    ValueBasis,
    costly_non_buyers,
    value_basis,
    window_customers,
    with_profit,
)
from analysis.analyses.concentration.claims import (
    claim_c1,
    claim_c2,
    claim_c6,
    concentration_share,
)
from analysis.analyses.concentration.report import (
    ConcentrationReport,
    buyers_missing_reason,
    concentration_report,
    coverage_note,
    covered_windows,
    plot_lorenz,
    plot_share_by_window,
    plot_tail,
    plot_whale,
    profit_missing_reason,
    recurring_concentration,
    service_missing_reason,
)
from analysis.analyses.concentration.shares import (
    CHUNK_CELLS,
    MIN_CUSTOMERS,
    PROFIT_FRACTIONS,
    TOP_FRACTIONS,
    Concentration,
    RunStatistics,
    bootstrap_counts,
    chunk_rows,
    concentration,
    customers_for_share,
    gini,
    group_share,
    implied_top_share,
    lorenz_curve,
    pareto_top_share,
    share_standard_errors,
    top_shares,
)
from analysis.analyses.concentration.tail import (
    EXACT_8020_INDEX,
    MIN_TAIL,
    TailFit,
    choose_xmin,
    fit_tail,
    gof_pvalue,
    vuong_vs_lognormal,
)
from analysis.analyses.concentration.whale import (
    UNKNOWN_TREND,
    SizeBands,
    WhaleCurve,
    core_customers,
    core_summary,
    share_by_window,
    size_bands,
    whale_curve,
)
