"""The continuous controller: the loop that decides when to reconcile, its lease keeper, its
metrics, webhook checks and the process around them. ``run_controller`` is the entry point."""
