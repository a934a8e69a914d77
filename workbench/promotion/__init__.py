"""Promotion: gates, compare-and-set alias moves, approval records, a hash-chained history."""
