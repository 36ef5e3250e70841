"""``deployctl event emit|ls``: the embedded engine's events, as Prefect shapes them.

``emit`` stores one event (an external system's, or a test's); ``ls`` lists them newest first,
by name, resource and time. Events live in ``events.db`` beside the embedded registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from controller.cli.common import echo_json, echo_rows, output_option

if TYPE_CHECKING:
    from controller.app import App
    from controller.core.events import Event
    from controller.services.events import Events


def _service(app: App) -> Events:
    from controller.services.events import Events

    store = app.event_store()
    click.get_current_context().call_on_close(store.close)
    return Events(store)


@click.group()
def event() -> None:
    """Emit and list events (embedded registry): flow-run state changes and your own."""


@event.command("emit")
@click.argument("name")
@click.option(
    "--resource",
    "resource",
    multiple=True,
    metavar="LABEL=VALUE",
    required=True,
    help="A label of the event's resource; prefect.resource.id=… is required. Repeat for more.",
)
@click.option(
    "--related",
    multiple=True,
    metavar="LABELS",
    help="A related resource: LABEL=VALUE,LABEL=VALUE or a JSON object, with prefect.resource.id "
    "and prefect.resource.role. Repeat for more.",
)
@click.option("--payload", metavar="JSON", help="The event's payload, a JSON object.")
@click.option("--occurred", metavar="TIME", help="When it happened (ISO-8601 with a zone) [now].")
@click.option(
    "--id", "event_id", metavar="UUID", help="The event's id [a new one]; a stored id is kept once."
)
@output_option
@click.pass_obj
def emit(
    app: App,
    name: str,
    resource: tuple[str, ...],
    related: tuple[str, ...],
    payload: str | None,
    occurred: str | None,
    event_id: str | None,
    output: str,
) -> None:
    """Record the event NAME (my.thing.happened) for triggers to react to."""
    from controller.services.events import parse_labels, parse_payload, parse_related

    stored = _service(app).emit(
        name,
        parse_labels(resource, "--resource"),
        parse_related(related),
        parse_payload(payload),
        occurred,
        event_id,
    )
    if output == "json":
        echo_json(stored.to_json())
    else:
        click.echo(f"event {stored.event} {stored.id} recorded for {stored.resource_id}")


@event.command("ls")
@click.option(
    "--event", "names", multiple=True, metavar="NAME", help="Only these events (a trailing * matches)."
)
@click.option(
    "--resource", metavar="ID", help="Only events of this prefect.resource.id (a trailing * matches)."
)
@click.option("--since", metavar="TIME", help="Occurred at or after: ISO-8601 or an age (15m, 2h, 7d).")
@click.option("--until", metavar="TIME", help="Occurred before: ISO-8601 or an age.")
@click.option("--limit", default=50, show_default=True, help="At most this many, newest first.")
@output_option
@click.pass_obj
def ls(
    app: App,
    names: tuple[str, ...],
    resource: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    output: str,
) -> None:
    """List events, newest first."""
    events = _service(app)
    found = events.list_events(names, resource, since, until, limit)
    if output == "json":
        echo_json([e.to_json() for e in found])
        return
    rows = [_row(e) for e in found]
    echo_rows(
        rows, ["occurred", "event", "resource", "id"], output, f"no events in {events.store.location} match"
    )


def _row(stored: Event) -> dict[str, Any]:
    return {
        "occurred": stored.occurred,
        "event": stored.event,
        "resource": stored.resource_id,
        "id": stored.id,
    }


def trigger_firings(app: App, identity: str, triggers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``deployment inspect``: each trigger's last firing where deployctl's engine runs them."""
    from controller.services.events import last_firings

    if not triggers or not app.capabilities.runs_flows_here:
        return None
    return last_firings(app.recorded_events(), identity, [t["name"] for t in triggers])


def echo_firings(firings: dict[str, Any] | None) -> None:
    for name, firing in (firings or {}).items():
        if firing is None:
            click.echo(f"trigger {name}: never fired")
            continue
        made = f"flow run {firing['run_id']}" if firing["run_id"] else f"no run ({firing['outcome']})"
        click.echo(f"trigger {name}: last fired {firing['fired_at']} on event {firing['event_id']}: {made}")


def triggered_by(app: App, idempotency_key: str | None) -> dict[str, Any]:
    """``flow-run inspect``: ``triggered_by`` (the trigger and its event) of a run a trigger made."""
    from controller.services.events import TRIGGERED, cause_of

    if not (idempotency_key or "").startswith(TRIGGERED):
        return {}
    return {"triggered_by": cause_of(app.recorded_events(), idempotency_key or "")}
