"""Retrievers (BM25, dense, hybrid) behind one protocol, and KILT-format predictions."""
