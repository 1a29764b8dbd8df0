"""Sparse retrieval: BM25 with bm25s as the embedded engine."""
