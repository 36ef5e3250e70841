"""deployctl: a GitOps controller for flow deployments.

The package is layered: ``core`` (pure data and rules), ``loading`` (manifests in, desired
state out), ``adapters`` (all I/O), ``engine`` and ``runtime`` (wiring), ``cli`` (the edge).
"""

__version__ = "0.1.0"
