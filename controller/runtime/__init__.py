"""Runtime: the standalone engine (scheduler, runner, process manager) and its loops."""
