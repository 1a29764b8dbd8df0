"""uniret: universal dense retrieval for knowledge-intensive tasks (KILT in and out)."""

__version__ = "0.1.0"
