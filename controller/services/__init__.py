"""Use cases between the CLI (or the Python API) and the engine: validate, plan and sync
(``syncing``), the controller (``controlling``), the engine's loops (``serving``), deployments,
runs, work queues, status. Each works on typed values through the ports and raises
``controller.errors``; none prints, and none knows which registry backend it talks to.
"""
