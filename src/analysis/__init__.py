"""customer-value lab: tests the folk laws of customer management on a company's own data."""

__version__ = "0.1.0"
