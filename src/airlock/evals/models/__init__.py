"""Inspect model providers of Airlock's own."""
