"""Engine: the reconcile pass and its steps, written against ports (``engine.ports``)."""
