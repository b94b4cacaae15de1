"""Customer value segments: tiers, pyramids, the value scorecard, lifecycle stages and strategies.

The notebooks import the package
(``from analysis.analyses import segments``): every public name of its
modules is available here.
"""

from analysis.analyses.segments.lifecycle import (
    FEATURES_NEEDED,
    LOYALTY_ASPECTS,
    NOT_PLACED,
    PARTNER_MARKETS,
    SEGMENT_OF_STAGE,
    STAGE_COLUMNS,
    STAGE_RANK,
    STAGES,
    STRATEGIES,
    lifecycle_stage,
    loyalty_index,
    manager_questions,
    plot_stages,
    prospects,
    stage_moves,
    stages_for,
    strategies,
    strategy_segment,
    transitions,
)
from analysis.analyses.segments.report import (
    SegmentReport,
    segment_report,
)
from analysis.analyses.segments.settings import (
    EXTRA_INDICATORS,
    GROW,
    SegmentConfigError,
    SegmentSettings,
    Tiering,
    parse_settings,
    with_defaults,
)
from analysis.analyses.segments.value import (
    PROFIT_NOT_KNOWN,
    PROFIT_UNKNOWN,
    QUADRANT_ACTIONS,
    Pyramid,
    Scorecard,
    assign_tiers,
    composite,
    percentile_scores,
    plot_pyramid,
    plot_quadrants,
    profit_known,
    pyramid,
    scorecard,
    tier_shares_table,
    top_tier_profit_share,
    top_tier_share,
    value_tiers,
)
