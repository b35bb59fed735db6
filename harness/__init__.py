"""harness: an evaluation-first RAG harness with LoRA backends.

Importing this package is cheap on purpose: torch, transformers and faiss are imported
inside the functions that need them, so `harness --help` answers at once.
"""

__version__ = "0.1.0"
