"""The Prefect backend: a Prefect server or Prefect Cloud, spoken to over its REST API. Its face
is ``backend.PrefectBackend``."""
