"""Shared vocabulary of every layer: typed results (`results`), the house style of figures
(`plots`) and multiple-testing adjustments (`multitest`).

May import: nothing from `analysis`.
"""
