"""Dense side: sharded, resumable corpus encoding and FAISS indexes."""
