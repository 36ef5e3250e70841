"""What ``prefect deploy`` takes from the flow itself for a prefect.yaml deployment.

Prefect names the deployment's flow after ``@flow`` (a ``flow_name:`` in the file does not
change it), takes a missing description from the flow, and stores the parameter schema built
from the signature. Pure; called by ``controller.loading.loader`` once the entrypoint is known
to be sound.
"""

from __future__ import annotations

from dataclasses import replace

from controller.core.spec import DeploymentSpec
from controller.loading.entrypoints import FlowInfo

Finding = tuple[str, str, str]
"""(field, message, code) of a warning about one deployment."""


def as_prefect_deploys(spec: DeploymentSpec, flow: FlowInfo) -> tuple[DeploymentSpec, list[Finding]]:
    findings: list[Finding] = []
    if spec.flow_name and spec.flow_name != flow.name:
        findings.append(
            (
                "flow_name",
                f"flow_name '{spec.flow_name}' is not used: Prefect names the deployment after the "
                f"flow's @flow name, so it is '{flow.name}/{spec.name}'; remove flow_name",
                "flow-name-ignored",
            )
        )
    changed = replace(spec, flow_name=flow.name, description=spec.description or flow.description)
    if flow.signature is not None:
        changed = replace(changed, parameter_openapi_schema=flow.signature.schema)
        findings += [
            (
                "entrypoint",
                f"parameter '{name}' of {spec.entrypoint_function}() has an annotation deployctl cannot "
                "read without importing the flow: its schema accepts any value",
                "parameter-unresolved",
            )
            for name in flow.signature.unresolved
        ]
    return changed, findings
