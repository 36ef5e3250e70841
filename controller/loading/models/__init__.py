"""Pydantic models of every file deployctl accepts; the JSON Schemas are generated from them.

Strict at the edge: unknown keys are errors (with a "did you mean" hint added by
``controller.loading.problems``), values are checked at load time. Used by
``controller.loading.manifests`` and ``controller.loading.schemas``.
"""
