"""Layer 2, the engine: customer features and the customer x period panel (Ibis and DuckDB),
purchase summaries for the BTYD models, and the context a notebook opens for a period.

May import: `analysis.core`, `analysis.data`.
"""
