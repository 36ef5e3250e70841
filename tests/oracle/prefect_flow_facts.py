"""Run inside Prefect's own virtualenv: print what ``prefect deploy`` takes from each flow.

Reads a JSON list of entrypoints (``/abs/path/file.py:function``) on stdin and writes, per
entrypoint, the flow's name, description and parameter schema as Prefect 3 stores them
(``parameter_schema(flow).model_dump_for_openapi()``). Imports the flow, as Prefect does;
never imported by deployctl; started by ``tests/oracle`` as a subprocess.
"""

import json
import sys

from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema


def facts(entrypoint):
    flow = load_flow_from_entrypoint(entrypoint)
    schema = parameter_schema(flow).model_dump_for_openapi()
    return {"name": flow.name, "description": flow.description, "schema": schema}


print(json.dumps([facts(e) for e in json.load(sys.stdin)]))
