"""Loading: manifests in a source tree -> validated desired state plus diagnostics.

Called by the CLI (`deployctl validate`) and the reconciler. Never raises on bad input:
every problem comes back as a ``Diagnostic`` with file, line and field.
"""
