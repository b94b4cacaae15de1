"""Layer 4, the pack: run the notebooks, merge their results, render HTML and PDF, the
executive summary's tables, exports and the reports index.

May import: every lower layer.
"""
