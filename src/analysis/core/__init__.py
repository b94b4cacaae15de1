"""Shared vocabulary of every layer: typed results (`results`), the house style of figures
(`plots`), reader text (`text`: numbers, intervals and data values as a reader sees them)
and multiple-testing adjustments (`multitest`).

May import: nothing from `analysis` outside `core`.
"""
