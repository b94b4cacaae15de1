"""Layer 1, data in: the company config, the data contract and its validation, sources and
column mapping, the data-quality ledger, periods, pseudonyms and the demo company.

May import: `analysis.core`.
"""
