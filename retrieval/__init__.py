"""Retrieval: documents -> chunks -> embeddings -> FAISS index on disk -> top-k search."""
