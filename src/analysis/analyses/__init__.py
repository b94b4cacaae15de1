"""Layer 3, the analyses: each takes frames (or a context) and returns small typed results and
claim answers; the scorecard assembles the claims.

May import: `analysis.core`, `analysis.data`, `analysis.engine`.
"""
