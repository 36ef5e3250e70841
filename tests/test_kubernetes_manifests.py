"""The kustomize base and its Prefect overlay, rendered offline and validated against the Kubernetes
schemas (``kubernetes-validate``). No cluster runs here. A small renderer covers what these
manifests use (resources, strategic-merge patches, ``$patch: delete``, labels); where a
``kubectl`` with kustomize is installed, its rendering must agree with ours."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
BASE, PREFECT = ROOT / "base", ROOT / "overlays" / "prefect"
KUBERNETES_VERSION = "1.30.0"
Doc = dict[str, Any]


def render(folder: Path) -> list[Doc]:
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[Doc] = []
    for entry in kustomization.get("resources", []):
        path = folder / entry
        docs += render(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in kustomization.get("patches", []):
        docs = apply_patch(docs, yaml.safe_load((folder / patch["path"]).read_text()))
    for entry in kustomization.get("labels", []):
        for doc in docs:
            add_labels(doc, entry["pairs"], entry.get("includeSelectors", False))
    return docs


def apply_patch(docs: list[Doc], patch: Doc) -> list[Doc]:
    key = (patch["kind"], patch["metadata"]["name"])
    assert key in {identity(d) for d in docs}, f"patch for a missing resource {key}"
    if patch.get("$patch") == "delete":
        return [d for d in docs if identity(d) != key]
    return [merge(copy.deepcopy(d), patch) if identity(d) == key else d for d in docs]


def merge(target: Doc, patch: Doc) -> Doc:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        elif (
            isinstance(value, list) and isinstance(target.get(key), list) and all("name" in v for v in value)
        ):
            named = {item["name"]: item for item in target[key]}
            for item in value:
                if item["name"] in named:
                    merge(named[item["name"]], item)
                else:
                    target[key].append(item)
        else:
            target[key] = value
    return target


def add_labels(doc: Doc, pairs: dict[str, str], selectors: bool) -> None:
    doc["metadata"].setdefault("labels", {}).update(pairs)
    if not selectors:
        return
    if doc["kind"] == "Service":
        doc["spec"].setdefault("selector", {}).update(pairs)
    if doc["kind"] == "Deployment":
        doc["spec"].setdefault("selector", {}).setdefault("matchLabels", {}).update(pairs)
        doc["spec"]["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)


def identity(doc: Doc) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def by_kind(docs: list[Doc]) -> dict[str, Doc]:
    return {d["kind"]: d for d in docs}


def container(docs: list[Doc]) -> Doc:
    (only,) = by_kind(docs)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.mark.parametrize("folder", [BASE, PREFECT], ids=["base", "prefect"])
def test_every_rendered_manifest_is_valid_for_kubernetes(folder: Path) -> None:
    docs = render(folder)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_base_runs_one_restricted_non_root_controller_with_probes_and_a_home_volume() -> None:
    docs = render(BASE)
    assert set(by_kind(docs)) == {"ServiceAccount", "PersistentVolumeClaim", "Deployment", "Service"}
    deployment = by_kind(docs)["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1 and pod["securityContext"]["runAsNonRoot"]
    main = container(docs)
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert security["capabilities"]["drop"] == ["ALL"]
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"requests", "limits"} <= set(main["resources"])
    assert main["args"][:2] == ["deployctl", "controller"] and "0.0.0.0:8080" in main["args"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in main["env"] if "valueFrom" in e}
    assert secrets == {"DEPLOYCTL_GIT_TOKEN": "git-token", "DEPLOYCTL_WEBHOOK_SECRET": "webhook-secret"}
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    home = next(v for v in pod["volumes"] if v["name"] == "home")
    assert (
        mounts["home"] == "/var/lib/deployctl"
        and home["persistentVolumeClaim"]["claimName"] == "deployctl-home"
    )
    service = by_kind(docs)["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_the_prefect_overlay_has_two_replicas_no_volume_claim_and_the_prefect_key() -> None:
    docs = render(PREFECT)
    assert "PersistentVolumeClaim" not in by_kind(docs)
    deployment = by_kind(docs)["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert all("persistentVolumeClaim" not in v for v in pod["volumes"])
    env = {e["name"]: e for e in container(docs)["env"]}
    assert env["DEPLOYCTL_REGISTRY"]["value"] == "prefect"
    assert env["PREFECT_API_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "prefect-api-key"
    assert "DEPLOYCTL_WEBHOOK_SECRET" in env  # the base's settings survive the patch


def normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: normalised(v) for k, v in value.items()}
    if isinstance(value, list) and all(isinstance(v, dict) and "name" in v for v in value):
        return sorted((normalised(v) for v in value), key=lambda v: v["name"])
    if isinstance(value, list):
        return [normalised(v) for v in value]
    return value


@pytest.mark.parametrize("folder", [BASE, PREFECT], ids=["base", "prefect"])
def test_kubectl_kustomize_renders_the_same(folder: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl here: the offline renderer above is the only rendering")
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"kubectl cannot run kustomize here: {done.stderr.strip()[:200]}")
    theirs = {identity(d): normalised(d) for d in yaml.safe_load_all(done.stdout) if d}
    ours = {identity(d): normalised(d) for d in render(folder)}
    assert ours == theirs


def test_the_validator_rejects_a_broken_manifest() -> None:
    deployment = copy.deepcopy(by_kind(render(BASE))["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFs"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


GUIDE = (ROOT / "README.md").read_text()


def secret_literals() -> dict[str, str]:
    """The keys and values of the guide's ``kubectl create secret generic deployctl`` command."""
    command = re.search(r"kubectl create secret generic deployctl((?:.*\\\n)*.*)", GUIDE)
    assert command, "the guide shows how to create the Secret"
    return dict(re.findall(r"--from-literal=([\w-]+)=(\S+)", command.group(1)))


def test_the_guide_documents_every_secret_key_and_variable_the_manifests_read() -> None:
    keys, names = set(), set()
    for folder in (BASE, PREFECT):
        for entry in container(render(folder))["env"]:
            names.add(entry["name"])
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "deployctl"
                keys.add(ref["key"])
    assert keys == set(secret_literals()) == {"git-token", "webhook-secret", "prefect-api-key"}
    for word in keys | names:
        assert f"`{word}`" in GUIDE, f"deploy/kubernetes/README.md does not explain {word}"
    assert "$(DEPLOYCTL_SOURCE)" in GUIDE and "$(DEPLOYCTL_SOURCE)" in container(render(BASE))["args"]
    for key in keys:  # the manifests' own comments name each key too
        comments = (BASE / "deployment.yaml").read_text() + (PREFECT / "deployment.yaml").read_text()
        assert re.search(rf"#.*\b{key}\b", comments), key


@pytest.mark.controller
def test_the_base_container_runs_as_kubernetes_would_start_it_with_the_guides_secret(tmp_path: Path) -> None:
    """The container's args and env, ``$(VAR)`` expanded as the kubelet does, the Secret's keys as
    the guide creates them, DEPLOYCTL_SOURCE a repository: it becomes ready, takes a webhook signed
    with the secret's webhook-secret, refuses a forged one, and exits 0 at SIGTERM."""
    from tests.controller_fixtures import free_port, request, wait_for
    from tests.gitrepo import repository

    repo = repository(tmp_path / "repo", ["a"])
    home, port, secret = tmp_path / "var-lib-deployctl", free_port(), secret_literals()
    main = container(render(BASE))
    env = {"HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for entry in main["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = secret[ref["key"]] if ref else entry["value"]
    env |= {"DEPLOYCTL_SOURCE": repo.root.as_uri(), "DEPLOYCTL_HOME": str(home)}
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in main["args"]]
    args = [a.replace(":8080", f":{port}") for a in args]
    process = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        ready = url + main["readinessProbe"]["httpGet"]["path"]

        def answers_ready() -> bool:
            try:
                return request(ready)[0] == 200
            except OSError:  # not listening yet
                assert process.poll() is None, process.communicate()[1]
                return False

        wait_for(answers_ready, timeout=60, what="the controller to be ready")
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        signed = "sha256=" + hmac.new(secret["webhook-secret"].encode(), body, hashlib.sha256).hexdigest()
        hook = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
        assert request(url + "/hooks/github", body, {**hook, "X-Hub-Signature-256": signed})[0] == 202
        assert request(url + "/hooks/github", body, {**hook, "X-Hub-Signature-256": "sha256=00"})[0] == 401
        assert (home / "registry.db").is_file()
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0  # the pass the webhook started may take up to --shutdown-grace
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
