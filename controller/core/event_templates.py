"""A trigger's run ``parameters`` rendered from its firing event, as Prefect renders them. Pure.

Prefect's run-deployment action treats every string parameter holding ``{{`` or ``{%`` as a
Jinja template, rendered in an immutable sandbox with ``ChainableUndefined``: a template that
is one expression (``"{{ event }}"``, ``"{{ event.payload.rows }}"``) keeps its value's type
(rendered ``| tojson`` and read back; an undefined value is then an error, as in Prefect),
any other is a string (where an undefined value is empty). The context is ``event``, with
``event.resource.id``/``.name``/``.role`` as on Prefect's ``Resource``. ``check_templates``
finds syntax errors at plan time. Called by the event pump and by the loader's trigger check.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from controller.core.events import Event


class TemplateError(ValueError):
    """A parameter template that cannot be parsed or rendered."""


class _Resource(dict[str, str]):
    """A resource's labels, with Prefect's ``id``, ``name`` and ``role`` attributes."""

    @property
    def id(self) -> str | None:
        return self.get("prefect.resource.id")

    @property
    def name(self) -> str | None:
        return self.get("prefect.resource.name")

    @property
    def role(self) -> str | None:
        return self.get("prefect.resource.role")


MAX_RANGE = 100


def _tojson(value: Any) -> str:
    """JSON of a value; an undefined one is an error, as in Prefect (not JSON serializable)."""
    return json.dumps(value)


def _range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_RANGE:
        raise OverflowError(f"range too big: the sandbox allows {MAX_RANGE} items")
    return found


_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=ChainableUndefined, autoescape=False)
_ENVIRONMENT.filters["tojson"] = _tojson
_ENVIRONMENT.globals["range"] = _range


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def event_context(event: Event | None) -> dict[str, Any]:
    if event is None:  # a Proactive firing on a window without events
        return {"event": None}
    document = event.to_json()
    document["resource"] = _Resource(event.resource)
    document["related"] = [_Resource(r) for r in event.related]
    return {"event": document}


def render_parameters(parameters: dict[str, Any], event: Event | None) -> dict[str, Any]:
    """``parameters`` with each template rendered from ``event``; ``TemplateError`` if one fails."""
    context = event_context(event)
    rendered = _render(parameters, context)
    assert isinstance(rendered, dict)
    return rendered


def _render(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        if "__prefect_kind" in value:
            return value  # Prefect's explicit placeholders are left as written
        return {key: _render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, context) for item in value]
    if isinstance(value, str) and is_template(value):
        return _render_string(value, context)
    return value


def _render_string(template: str, context: dict[str, Any]) -> Any:
    stripped = template.strip()
    single = stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1
    source = "{{ " + stripped[2:-2].strip() + " | tojson }}" if single else template
    try:
        text = _ENVIRONMENT.from_string(source).render(context)
    except Exception as exc:  # noqa: BLE001 - any failure of a user's template is reported as one
        raise TemplateError(f"{template!r}: {exc}") from exc
    return json.loads(text) if single else text


def check_templates(parameters: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, problem) of each template in ``parameters`` that does not parse."""
    yield from _check(parameters, ())


def _check(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _check(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _check(item, (*path, index))
    elif isinstance(value, str) and is_template(value):
        try:
            _ENVIRONMENT.parse(value)
        except TemplateSyntaxError as exc:
            yield path, f"template {value!r} does not parse: {exc.message} (line {exc.lineno})"
