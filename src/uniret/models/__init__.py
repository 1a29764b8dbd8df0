"""Encoders (HF backbone + pooling) and bi-encoders (shared, separate or per-task query towers)."""
