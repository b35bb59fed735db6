"""Hallucination scoring: claims -> signals against the context -> verdict, score and spans.

Everything here is pure Python on strings (plus the bundled embedder for one signal), so it
runs offline on a CPU and can score answers made anywhere (`harness score`).
"""
