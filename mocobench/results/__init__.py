"""Collecting runs and their evaluations into tables-ready data."""
