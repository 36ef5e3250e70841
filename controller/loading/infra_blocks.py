"""The infrastructure blocks ``prefect deployment build --infra TYPE`` writes, as Prefect 2.20.27
writes them (its defaults, copied from its own output), and a saved block written by reference.

Data only; used by ``controller.loading.authoring``. deployctl reads these blocks back as the
manifest loader does: an inline block's settings become job variables, a saved block is a name.
"""

from __future__ import annotations

from typing import Any

_IMAGE = "prefecthq/prefect:2.20.27-python3.11"
_COMMON: dict[str, Any] = {"env": {}, "labels": {}, "name": None, "command": None}

DEFAULT_BLOCKS: dict[str, dict[str, Any]] = {
    "process": {"type": "process", **_COMMON, "stream_output": True, "working_dir": None},
    "docker-container": {
        "type": "docker-container",
        **_COMMON,
        "image": _IMAGE,
        "image_pull_policy": None,
        "image_registry": None,
        "networks": [],
        "network_mode": None,
        "auto_remove": False,
        "volumes": [],
        "stream_output": True,
        "memswap_limit": None,
        "mem_limit": None,
        "privileged": False,
    },
    "kubernetes-job": {
        "type": "kubernetes-job",
        **_COMMON,
        "image": _IMAGE,
        "namespace": "default",
        "service_account_name": None,
        "image_pull_policy": None,
        "cluster_config": None,
        "job": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"labels": {}},
            "spec": {
                "template": {
                    "spec": {
                        "parallelism": 1,
                        "completions": 1,
                        "restartPolicy": "Never",
                        "containers": [{"name": "prefect-job", "env": []}],
                    }
                }
            },
        },
        "customizations": [],
        "job_watch_timeout_seconds": None,
        "pod_watch_timeout_seconds": 60,
        "stream_output": True,
        "finished_job_ttl": None,
    },
}
# Where Prefect 2 puts the flow's code inside an image (``path`` of a docker-based build).
IMAGE_FLOW_PATH = "/opt/prefect/flows"


def default_block(kind: str) -> dict[str, Any]:
    """A fresh copy of the block ``--infra KIND`` writes; KeyError for an unknown kind."""
    import copy

    block = copy.deepcopy(DEFAULT_BLOCKS[kind])
    return {**block, "block_type_slug": kind, "_block_type_slug": kind}


def block_reference(slug: str) -> dict[str, Any]:
    """A saved block named ``type/name``, by reference: the type and the document name."""
    kind, _, name = slug.partition("/")
    return {"type": kind, "_block_document_name": name, "_block_type_slug": kind}
