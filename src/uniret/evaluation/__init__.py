"""KILT-exact retrieval metrics and per-task reports."""
