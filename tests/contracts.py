"""The forges' published contracts, to check each request deployctl sent to a fake forge API.

GitHub: its OpenAPI description from the npm package ``@octokit/openapi`` (``.ci/run`` installs
it under ``.ci/node_modules``; a ``node_modules`` at the root works too), for api.github.com and
the newest GitHub Enterprise Server it describes. A request is checked as the API routes it:
method and path against ``paths`` (the most literal template wins), each path and query value
against its parameter's schema, and the JSON body against the operation's ``requestBody``
schema with its ``$ref``s resolved (jsonschema and referencing), OpenAPI 3.0's ``nullable``
read as JSON Schema's null type, and no property that the operation does not declare.
GitLab publishes no machine-readable description of these endpoints: ``GITLAB`` is the table of
what its API pages document for them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from jsonschema import Draft4Validator
from referencing import Registry
from referencing.jsonschema import DRAFT4

ROOT = Path(__file__).resolve().parent.parent
GENERATED = Path("@octokit", "openapi", "generated")
FOLDERS = (ROOT / ".ci" / "node_modules", ROOT / "node_modules")
URI = "urn:deployctl-test:github-openapi"


@dataclass(frozen=True)
class Sent:
    """One request as a fake forge received it: method, raw target (path and query), JSON body."""

    method: str
    target: str
    body: Any = None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)


class OpenAPI:
    """One OpenAPI 3.0 description; ``problems`` lists what a request does against it."""

    def __init__(self, name: str, document: dict[str, Any]) -> None:
        self.name, self.document = name, _nullable(document)
        self.registry: Registry[Any] = Registry().with_resource(URI, DRAFT4.create_resource(self.document))
        self.routes = sorted(
            ((_template_pattern(t), t) for t in self.document["paths"]),
            key=lambda route: -sum(not part.startswith("{") for part in route[1].split("/")),
        )

    def problems(self, sent: Sent) -> list[str]:
        method = sent.method.lower()
        for pattern, template in self.routes:
            found = pattern.fullmatch(sent.path)
            if found and method in self.document["paths"][template]:
                return self._operation_problems(template, method, found.groupdict(), sent)
        return [f"{self.name}: no operation {sent.method} {sent.path}"]

    def _operation_problems(
        self, template: str, method: str, values: dict[str, str], sent: Sent
    ) -> list[str]:
        item = self.document["paths"][template]
        operation = item[method]
        where = f"{self.name}: {sent.method} {template} ({operation.get('operationId')})"
        parameters = [
            self._resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]
        ]
        declared = {(p["in"], p["name"]): p for p in parameters}
        problems = []
        for name, value in values.items():
            problems += self._value_problems(where, declared[("path", name)], unquote(value))
        for name, value in sent.query.items():
            parameter = declared.get(("query", name))
            if parameter is None:
                problems.append(f"{where}: query parameter {name} is not declared")
                continue
            for one in value:
                problems += self._value_problems(where, parameter, one)
        for (place, name), parameter in declared.items():
            if place == "query" and parameter.get("required") and name not in sent.query:
                problems.append(f"{where}: the required query parameter {name} is missing")
        return problems + self._body_problems(where, template, method, operation, sent.body)

    def _value_problems(self, where: str, parameter: dict[str, Any], text: str) -> list[str]:
        schema = self._resolve(parameter.get("schema", {}))
        value: Any = text
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?\d+", text):
                return [f"{where}: {parameter['name']}={text!r} is not an integer"]
            value = int(text)
        return [
            f"{where}: {parameter['name']}: {e.message}" for e in self._validator(schema).iter_errors(value)
        ]

    def _body_problems(
        self, where: str, template: str, method: str, operation: dict[str, Any], body: Any
    ) -> list[str]:
        request_body = self._resolve(operation.get("requestBody", {}))
        if not request_body:
            return [] if body is None else [f"{where}: takes no body, was sent {body!r}"]
        if body is None:
            return [f"{where}: the request body is missing"] if request_body.get("required") else []
        pointer = "/".join(_escape(p) for p in ("paths", template, method, "requestBody"))
        schema_ref = f"{URI}#/{pointer}/content/application~1json/schema"
        problems = [
            f"{where}: body: {e.message}" for e in self._validator({"$ref": schema_ref}).iter_errors(body)
        ]
        known = self._properties(self._resolve(request_body["content"]["application/json"]["schema"]))
        extra = sorted(set(body) - known) if isinstance(body, dict) and known else []
        return problems + [f"{where}: body property {name} is not declared" for name in extra]

    def _properties(self, schema: dict[str, Any]) -> set[str]:
        names = set(schema.get("properties", {}))
        for key in ("allOf", "anyOf", "oneOf"):
            for part in schema.get(key, []):
                names |= self._properties(self._resolve(part))
        return names

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.registry.resolver(URI).lookup(URI + node["$ref"]).contents
        return node

    def _validator(self, schema: dict[str, Any]) -> Draft4Validator:
        return Draft4Validator(schema, registry=self.registry)


def _template_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)))


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema says it."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") is True else converted


def octokit_folder() -> Path | None:
    return next((f / GENERATED for f in FOLDERS if (f / GENERATED / "api.github.com.json").is_file()), None)


@cache
def github_descriptions() -> tuple[OpenAPI, ...]:
    """api.github.com's and the newest GitHub Enterprise Server's descriptions; skips the test when
    the package is not installed, unless DEPLOYCTL_REQUIRE_PREFECT=1 (CI), which fails it."""
    folder = octokit_folder()
    if folder is None:
        reason = (
            "GitHub's OpenAPI description is not installed: run .ci/run, or "
            "npm install --prefix .ci @octokit/openapi"
        )
        if os.environ.get("DEPLOYCTL_REQUIRE_PREFECT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    enterprise = max(
        folder.glob("ghes-*[0-9].json"),
        key=lambda p: tuple(map(int, re.findall(r"\d+", p.name))),
        default=None,
    )
    files = [folder / "api.github.com.json", *([enterprise] if enterprise else [])]
    return tuple(OpenAPI(f.stem, json.loads(f.read_text())) for f in files)


def github_problems(requests: list[Sent]) -> list[str]:
    """What each request does against every GitHub description; empty when all conform."""
    return [
        p for description in github_descriptions() for sent in requests for p in description.problems(sent)
    ]


# GitLab's REST API as its pages document these endpoints: "Commits API" (set the pipeline status
# of a commit) and "Notes API" (merge request notes: list, create, modify). Path parameters: id
# (an integer or the URL-encoded path of the project), sha, merge_request_iid, note_id (integers).
# Each operation: its body or query attributes, which are required, and their allowed values.
GITLAB: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", r"/projects/(?P<id>[^/]+)/statuses/(?P<sha>[0-9a-f]{7,64})"): {
        "attributes": {
            "state",
            "ref",
            "name",
            "context",
            "target_url",
            "description",
            "coverage",
            "pipeline_id",
        },
        "required": {"state"},
        "values": {"state": {"pending", "running", "success", "failed", "canceled", "skipped"}},
    },
    ("GET", r"/projects/(?P<id>[^/]+)/merge_requests/(?P<merge_request_iid>\d+)/notes"): {
        "attributes": {"sort", "order_by", "page", "per_page"},
        "required": set(),
        "values": {"sort": {"asc", "desc"}, "order_by": {"created_at", "updated_at"}},
        "integers": {"page", "per_page"},
    },
    ("POST", r"/projects/(?P<id>[^/]+)/merge_requests/(?P<merge_request_iid>\d+)/notes"): {
        "attributes": {"body", "created_at", "internal", "merge_request_diff_head_sha"},
        "required": {"body"},
        "values": {},
    },
    ("PUT", r"/projects/(?P<id>[^/]+)/merge_requests/(?P<merge_request_iid>\d+)/notes/(?P<note_id>\d+)"): {
        "attributes": {"body"},
        "required": {"body"},
        "values": {},
    },
}


def gitlab_problems(requests: list[Sent], prefix: str = "/api/v4") -> list[str]:
    """What each request does against ``GITLAB``; empty when all conform."""
    problems = []
    for sent in requests:
        path = sent.path.removeprefix(prefix)
        matches = [(rule, re.fullmatch(p, path)) for (m, p), rule in GITLAB.items() if m == sent.method]
        found = next(((rule, m) for rule, m in matches if m), None)
        if found is None:
            problems.append(f"gitlab: no documented endpoint {sent.method} {sent.path}")
            continue
        rule, route = found
        project = unquote(route.group("id"))
        if not (project.isdigit() or "/" in project and "/" not in route.group("id")):
            problems.append(f"gitlab: {sent.path}: id is neither a number nor a URL-encoded path")
        given = {k: v[0] for k, v in sent.query.items()} if sent.method == "GET" else dict(sent.body or {})
        where = f"gitlab: {sent.method} {sent.path}"
        problems += [f"{where}: {k} is not documented" for k in sorted(set(given) - rule["attributes"])]
        problems += [f"{where}: {k} is required" for k in sorted(rule["required"] - set(given))]
        for name, allowed in rule["values"].items():
            if name in given and given[name] not in allowed:
                problems.append(f"{where}: {name}={given[name]!r} is not one of {sorted(allowed)}")
        for name in rule.get("integers", set()) & set(given):
            if not str(given[name]).isdigit():
                problems.append(f"{where}: {name}={given[name]!r} is not an integer")
        problems += [f"{where}: {k} is not a string" for k in ("body", "description", "name") if k in given
                     and not isinstance(given[k], str)]  # fmt: skip
    return problems
