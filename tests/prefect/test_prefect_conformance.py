"""Conformance: what Prefect's own tools write syncs into Prefect 3.9.1, reads back as it was
declared, and runs on Prefect's own worker.

The corpus is generated once per session, never written by hand:
- Prefect 2.20.27's ``prefect deployment build`` (``DEPLOYCTL_TEST_PREFECT2_BIN``) over
  ``tests/fixtures/prefect_conformance/flows.py`` (typed, defaulted, ``**kwargs`` and
  pydantic-model parameters), with every option the command has between the four builds;
  ``--infra-block`` names a Process block saved on the Prefect 2 server first.
- ``tests/fixtures/prefect_conformance/project/prefect.yaml``, a project as Prefect 3.9.1's
  ``prefect deploy`` reads it, synced by deployctl and deployed by ``prefect deploy --all``
  (under other flow names, on the same server) and compared, except for ``DIFFERENCES``.
Each corpus is synced once; one deployment of each shape runs to Completed on
``prefect worker start --type process``. ``sample-repo/`` is in ``test_prefect_sample_repo``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.adapters.prefect.translate import owner_tag
from controller.engine.reconciler import SyncResult
from tests.gitrepo import GitRepo
from tests.prefect.conftest import Prefect2, PrefectServer
from tests.prefect.helpers import PrefectSync, prefect_cli, process_pool, server_request, worker_pass

pytestmark = pytest.mark.prefect

FIXTURES = Path(__file__).parent.parent / "fixtures" / "prefect_conformance"
BLOCK = "deployctl-conformance"  # a Process block on the Prefect 2 server, for --infra-block
# Between them the builds use every option of `prefect deployment build` 2.20.
BUILDS: dict[str, list[str]] = {
    "typed": [
        "flows.py:typed", "-n", "cron", "--cron", "0 9 * * 1-5", "--timezone", "Europe/Berlin",
        "--param", "name=alice", "--param", "count=5", "-q", "conformance", "-p", "{pool}",
        "-t", "etl", "-t", "daily", "-v", "1.0", "-d", "Typed parameters, on a cron",
        "--infra", "process", "--override", "env.GREETING=hello", "--skip-upload",
    ],
    "defaulted": [
        "flows.py:defaulted", "-n", "interval", "--interval", "86400",
        "--anchor-date", "2024-01-01T00:30:00", "--timezone", "America/New_York",
        "-p", "{pool}", "--infra-block", f"process/{BLOCK}", "--path", "defaulted", "--skip-upload",
    ],
    "kwargs": [
        "flows.py:with_kwargs", "-n", "rrule", "--rrule", "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=6",
        "--params", '{"greeting": "hey", "kwargs": {"extra": 5}}', "-p", "{pool}", "-t", "kwargs",
    ],
    "model": [
        "flows.py:modelled", "-n", "adhoc", "--param", 'window={"start": "2024-01-01", "days": 3}',
        "-p", "{pool}", "-q", "models", "--infra", "process", "--no-schedule", "--skip-upload",
    ],
}  # fmt: skip
# What each run prints: parameters, defaults and job variables reached the flow.
PRINTED = {
    "typed": "typed ran for alice x5, GREETING=hello",
    "defaulted": "defaulted ran: hello x1",
    "kwargs": "kwargs ran: hey [('extra', 5)]",
    "model": "model ran: 2024-01-01 for 3 days, weekly",
}
# An inline Process block's settings become job variables; a saved block's do not (Prefect 3
# has no infrastructure blocks: its worker's pool decides).
JOB_VARIABLES: dict[str, dict[str, Any]] = {
    "typed": {"env": {"GREETING": "hello"}, "stream_output": True},
    "defaulted": {},
    "kwargs": {"stream_output": True},
    "model": {"stream_output": True},
}
# Folder of each prefect.yaml project -> {deployment: flow function}: the fixture project, and the
# one `prefect init` 3.9.1 writes, with its name, entrypoint and work pool filled in.
PROJECTS = {
    "project": {"many-schedules": "typed", "triggered": "model", "paused": "kwargs"},
    "init": {"from-init": "defaulted"},
}
# The lines of `prefect init`'s template a person fills in, and what the corpus fills in.
INIT_FILLED = {
    "- name: null\n": "- name: from-init\n",
    "  entrypoint: null\n": "  entrypoint: flows.py:defaulted\n",
    "    name: null\n": "    name: {pool}\n",
}


@dataclass(frozen=True)
class Corpus:
    repo: GitRepo
    commit: str
    token: str  # the flows' and variables' per-session suffix
    pool: str
    builds: dict[str, dict[str, Any]]  # build name -> the deployment.yaml Prefect 2 wrote
    sync: PrefectSync

    def flow(self, function: str) -> str:
        return f"conformance-{self.token}-{function}"


@pytest.fixture(scope="session")
def corpus(
    prefect_server: PrefectServer, prefect2: Prefect2, tmp_path_factory: pytest.TempPathFactory
) -> Corpus:
    """Generated, committed and synced once. The 3.9.1 server is prepared while Prefect 2 builds."""
    tmp = tmp_path_factory.mktemp("conformance")
    token, pool = uuid.uuid4().hex[:8], f"conformance-{uuid.uuid4().hex[:8]}"
    repo = GitRepo(tmp / "repo")
    building = Prefect2Builds(prefect2, repo.root / "prefect2", tmp, pool)
    write_flows(building.folder, token)
    building.start([name for name, args in BUILDS.items() if "--infra-block" not in args])
    block = building.run(["python", "-c", SAVE_BLOCK], "block")
    output = block.communicate(timeout=300)[0]
    assert block.returncode == 0, f"saving the Process block on Prefect 2 failed:\n{output}"
    building.start([name for name, args in BUILDS.items() if "--infra-block" in args])
    process_pool(prefect_server, pool)
    for variable, value in (("conformance_tag", "from-a-variable"), ("conformance_name", "ada")):
        body = {"name": f"{variable}_{token}", "value": value}
        assert server_request("POST", f"{prefect_server.api_url}/variables/", json=body).status_code == 201
    write_project(repo.root / "project", token, token, pool)
    write_init_project(prefect_server, repo.root / "init", token, pool)
    # Prefect 2 leaves enforce_parameter_schema null (off); on, the server checks every schema.
    repo.write({".deployctl.yaml": "defaults:\n  enforce_parameter_schema: true\n"})
    builds = building.finish()
    commit = repo.commit("the corpus")
    sync = PrefectSync(prefect_server, repo, tmp / "home", f"conformance-{token}", {})
    assert_synced(sync.sync())
    return Corpus(repo, commit, token, pool, builds, sync)


def assert_synced(result: SyncResult) -> None:
    """Every deployment written: a failure names the deployment and the server's answer."""
    failed = "\n".join(f"{identity}: {why[:500]}" for identity, why in sorted(result.failures.items()))
    problems = "\n".join(f"{d.file}:{d.line}: {d.message}" for d in result.diagnostics)
    assert result.ok, f"{result.error or ''}\n{failed}\n{problems}"


SAVE_BLOCK = (
    "from prefect.infrastructure import Process\n"
    f"Process(env={{'FROM_BLOCK': 'yes'}}).save('{BLOCK}', overwrite=True)\n"
)


@dataclass
class Prefect2Builds:
    """``prefect deployment build`` runs, each a process of its own, as a person runs them."""

    prefect2: Prefect2
    folder: Path
    tmp: Path
    pool: str
    started: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    def start(self, names: list[str]) -> None:
        for name in names:
            args = [arg.replace("{pool}", self.pool) for arg in BUILDS[name]]
            command = ["prefect", "deployment", "build", *args, "--output", f"{name}-deployment.yaml"]
            self.started[name] = self.run(command, name)

    def run(self, command: list[str], name: str) -> subprocess.Popen[str]:
        """Prefect 2's ``command`` against its server, with a PREFECT_HOME of its own."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.tmp),
            "PREFECT_API_URL": self.prefect2.api_url,
            "PREFECT_HOME": str(self.tmp / f"prefect2-home-{name}"),
        }
        return subprocess.Popen(
            [str(self.prefect2.bin_dir / command[0]), *command[1:]],
            cwd=self.folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

    def finish(self) -> dict[str, dict[str, Any]]:
        for name, process in self.started.items():
            output, _ = process.communicate(timeout=300)
            assert process.returncode == 0, f"prefect deployment build ({name}) failed:\n{output}"
        written = {name: (self.folder / f"{name}-deployment.yaml").read_text() for name in BUILDS}
        return {name: yaml.safe_load(text) for name, text in written.items()}


def write_flows(folder: Path, token: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    source = (FIXTURES / "flows.py").read_text()
    (folder / "flows.py").write_text(source.replace('name="conformance-', f'name="conformance-{token}-'))


def write_init_project(server: PrefectServer, folder: Path, token: str, pool: str) -> None:
    """``prefect init --recipe local`` (3.9.1), then only what its template leaves to a person."""
    write_flows(folder, token)
    prefect_cli(server, "--no-prompt", "init", "--recipe", "local", cwd=folder)
    text = (folder / "prefect.yaml").read_text()
    for template, filled in INIT_FILLED.items():
        assert text.count(template) == 1, f"prefect init no longer writes {template!r}:\n{text}"
        text = text.replace(template, filled.replace("{pool}", pool))
    (folder / "prefect.yaml").write_text(text)


def write_project(folder: Path, flows_token: str, token: str, pool: str) -> None:
    write_flows(folder, flows_token)
    text = (FIXTURES / "project" / "prefect.yaml").read_text()
    (folder / "prefect.yaml").write_text(text.replace("@POOL@", pool).replace("@TOKEN@", token))


def schedule_of(item: dict[str, Any]) -> dict[str, Any]:
    """A schedule of a Prefect 2 ``schedules:`` entry or a Prefect 3 answer, comparably: the
    server adds the rrule's DTSTART and a null cron time zone is UTC."""
    inner = dict(item["schedule"])
    if "rrule" in inner:
        inner["rrule"] = inner["rrule"].rsplit("\n", 1)[-1]
    if "anchor_date" in inner:
        inner["anchor_date"] = datetime.fromisoformat(inner["anchor_date"].replace("Z", "+00:00"))
    if "interval" in inner:
        inner["interval"] = float(inner["interval"])
    inner["timezone"] = inner.get("timezone") or "UTC"
    return {"schedule": inner, "active": item.get("active", True)}


def declared(corpus: Corpus, written: dict[str, Any], name: str) -> dict[str, Any]:
    """What the server must hold for a ``deployment.yaml`` Prefect 2 wrote."""
    return {
        "name": written["name"],
        "description": written["description"],
        "version": corpus.commit[:12],  # deployctl's version is the commit, not the file's
        "tags": sorted([*written["tags"], owner_tag(corpus.sync.owner)]),
        "parameters": written["parameters"],
        "schedules": [schedule_of(item) for item in written["schedules"]],
        "paused": written["is_schedule_active"] is False,
        "work_pool_name": written["work_pool_name"],
        "work_queue_name": written["work_queue_name"],
        "job_variables": JOB_VARIABLES[name],
        "parameter_openapi_schema": {
            k: v for k, v in written["parameter_openapi_schema"].items() if v is not None
        },
        "enforce_parameter_schema": True,  # the corpus's .deployctl.yaml default
        "entrypoint": written["entrypoint"],
    }


def held(server: dict[str, Any]) -> dict[str, Any]:
    fields = {key: server[key] for key in (
        "name", "description", "version", "parameters", "paused", "work_pool_name", "work_queue_name",
        "job_variables", "parameter_openapi_schema", "enforce_parameter_schema", "entrypoint",
    )}  # fmt: skip
    schedules = [schedule_of(s) for s in server["schedules"]]
    return {**fields, "tags": sorted(server["tags"]), "schedules": schedules}


def test_every_option_of_prefect_2_build_syncs_and_reads_back_as_declared(corpus: Corpus) -> None:
    used = {arg for args in BUILDS.values() for arg in args if arg.startswith("-")}
    assert used >= {"-n", "--cron", "--interval", "--rrule", "--param", "--params", "--override", "-q", "-p",
                    "-t", "-v", "--infra", "--infra-block", "--path", "--skip-upload"}  # fmt: skip
    identities = {name: f"{w['flow_name']}/{w['name']}" for name, w in corpus.builds.items()}
    with ThreadPoolExecutor(len(identities)) as pool:  # one `prefect` process each, at once
        seen = dict(zip(identities, pool.map(corpus.sync.inspect, identities.values()), strict=True))
    for name, written in corpus.builds.items():
        assert held(seen[name]) == declared(corpus, written, name), identities[name]


def test_one_deployment_of_each_shape_runs_on_prefects_worker(corpus: Corpus, tmp_path: Path) -> None:
    """The four parameter shapes as Prefect 2 built them, and both prefect.yaml projects."""
    identities = [f"{w['flow_name']}/{w['name']}" for w in corpus.builds.values()]
    identities += [f"{corpus.flow('typed')}/many-schedules", f"{corpus.flow('defaulted')}/from-init"]
    runs = worker_pass(corpus.sync.server, corpus.pool, identities, tmp_path)
    expected = [*PRINTED.values(), "typed ran for ada x2, GREETING=from-the-pool", PRINTED["defaulted"]]
    for identity, run, printed in zip(identities, runs, expected, strict=True):
        assert run.state_type == "COMPLETED", f"{identity}: {run.output[-3000:]}"
        assert printed in run.output, identity


# What `prefect deploy` 3.9.1 writes for the same prefect.yaml that deployctl writes otherwise:
# (field, why). The README lists them.
DIFFERENCES = (
    ("version", "deployctl's version is the commit that last changed the deployment"),
    ("pull_steps", "deployctl clones the repository at that commit; prefect deploy's come from the file"),
    ("tags", "deployctl adds its owner tag"),
    ("schedules[].slug", "deployctl names an unnamed schedule schedule-N, so it is updated in place"),
    ("schedules[].schedule.timezone", "a cron without one is sent as UTC; Prefect sends null (it means UTC)"),
    ("description", "an unset one is null; prefect deploy writes the string 'None'"),
    ("parameter_openapi_schema", "read from the source without importing the flow: a pydantic model "
                                 "parameter accepts any value (Prefect imports the flow)"),
    ("automations", "triggers do not become automations yet"),
)  # fmt: skip


def as_prefect_deploy_writes(server: dict[str, Any], owner: str, model_parameter: bool) -> dict[str, Any]:
    """A deployment as the server holds it, without what ``DIFFERENCES`` lists."""
    out = held(server)
    out.pop("version")
    out["tags"] = [t for t in out["tags"] if t != owner_tag(owner)]
    out["description"] = None if server["description"] in (None, "None") else server["description"]
    out["schedules"] = sorted(out["schedules"], key=repr)
    if model_parameter:  # the parameters' names alone: deployctl cannot read the model's schema
        out["parameter_openapi_schema"] = sorted(out["parameter_openapi_schema"]["properties"])
    return out


def test_a_prefect_yaml_project_lands_as_prefect_deploy_puts_it(corpus: Corpus, tmp_path: Path) -> None:
    theirs = f"{corpus.token}x"
    for folder in PROJECTS:
        write_flows(tmp_path / folder, theirs)
        shutil.copy(corpus.repo.root / folder / "prefect.yaml", tmp_path / folder)
        prefect_cli(corpus.sync.server, "--no-prompt", "deploy", "--all", cwd=tmp_path / folder)
    for name, function in (item for deployments in PROJECTS.values() for item in deployments.items()):
        ours = read_deployment(corpus.sync.server, f"{corpus.flow(function)}/{name}")
        deployed = read_deployment(corpus.sync.server, f"conformance-{theirs}-{function}/{name}")
        model = function == "model"
        expected = as_prefect_deploy_writes(deployed, "", model)
        assert as_prefect_deploy_writes(ours, corpus.sync.owner, model) == expected, name
        assert ours["version"] == corpus.commit[:12]
        named = sorted(s["slug"] for s in deployed["schedules"] if s["slug"])
        kept = sorted(s["slug"] for s in ours["schedules"] if s["slug"] in named)
        assert kept == named, "the slugs the file declares are kept"


def read_deployment(server: PrefectServer, identity: str) -> dict[str, Any]:
    """The deployment as ``prefect deployment inspect -o json`` shows it, read from the API:
    3.9.1's inspect fails on a deployment with automations (it cannot serialise a set)."""
    flow, name = identity.split("/", 1)
    response = server_request("GET", f"{server.api_url}/deployments/name/{flow}/{name}")
    assert response.status_code == 200, f"{identity}: {response.text}"
    found: dict[str, Any] = response.json()
    return found
