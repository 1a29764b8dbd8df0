"""Fetching public benchmark files."""
