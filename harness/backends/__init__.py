"""Generation backends behind one small interface; see base.py."""

from harness.backends.base import Backend, GenRequest, Generation, backend_registry, create_backend

__all__ = ["Backend", "GenRequest", "Generation", "backend_registry", "create_backend"]
