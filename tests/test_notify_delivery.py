"""A receiver's courier against real HTTP servers on loopback: signing, retries, Retry-After,
a full queue, a hung receiver and the ledger."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from controller.adapters.notify.delivery import Courier, retry_after
from controller.adapters.notify.ledger import Ledger
from controller.adapters.notify.notifier import QueueNotifier
from controller.adapters.notify.receivers import Receiver as ReceiverSpec
from controller.core.notices import Event, NoticeKey, PassReport, decide_notice
from tests.receivers import Receiver, serving

SECRET = "hmac-key-for-tests"


def notice(outcome: str = "refused"):  # type: ignore[no-untyped-def]
    made = decide_notice(PassReport("team", "a" * 40, outcome, message="bad file"), None)
    assert made is not None
    return made


def spec(receiver: Receiver, kind: str = "webhook", secret: str | None = SECRET) -> ReceiverSpec:
    events = frozenset(e.value for e in Event)
    return ReceiverSpec("ops", kind, receiver.url, secret.encode() if secret else None, events, timeout=5)


def notifier(tmp_path: Path, *couriers: Courier) -> QueueNotifier:
    return QueueNotifier(couriers, Ledger(tmp_path / "sent.json"), drain_seconds=30)


def test_a_webhook_gets_the_notice_signed_as_flux_signs_it(tmp_path: Path) -> None:
    with serving(Receiver()) as hook:
        sender = notifier(tmp_path, Courier(spec(hook), 10, 3))
        sender.send(notice())
        sender.close()
    (request,) = hook.requests
    assert request.signed_with(SECRET) and not request.signed_with("another-key-entirely")
    body = request.json()
    assert body["event"] == "refused" and body["message"] == "bad file" and body["timestamp"]
    assert sender.last_sent("team") == NoticeKey("a" * 40, Event.REFUSED)


def test_slack_gets_text_and_no_signature(tmp_path: Path) -> None:
    with serving(Receiver()) as slack:
        sender = notifier(tmp_path, Courier(spec(slack, "slack", None), 10, 3))
        sender.send(notice())
        sender.close()
    (request,) = slack.requests
    assert "X-Signature" not in request.headers
    assert request.json()["text"].startswith("\u274c deployctl refused: aaaaaaaaaaaa")


def test_500_and_429_are_retried_as_retry_after_asks_and_the_same_notice_arrives(tmp_path: Path) -> None:
    waits: list[float] = []
    script = [(500, {}), (429, {"Retry-After": "7"}), (503, {})]
    with serving(Receiver(script=script)) as hook:
        courier = Courier(spec(hook), 10, attempts=5, backoff=0.5, wait=waits.append)
        sender = notifier(tmp_path, courier)
        sender.send(notice())
        sender.close()
    assert len(hook.requests) == 4 and courier.delivered == 1
    assert len({r.body for r in hook.requests}) == 1  # the very same notice, retried
    assert waits == [0.5, 7.0, 2.0]  # backoff, then what Retry-After asked, then backoff again


def test_a_refusal_is_not_retried_and_attempts_are_bounded(tmp_path: Path) -> None:
    waits: list[float] = []
    with serving(Receiver(script=[(404, {})])) as gone, serving(Receiver(script=[(500, {})] * 9)) as down:
        sender = notifier(
            tmp_path,
            Courier(spec(gone), 10, attempts=5, wait=waits.append),
            Courier(spec(down), 10, attempts=3, wait=waits.append),
        )
        sender.send(notice())
        sender.close()
    assert len(gone.requests) == 1 and len(down.requests) == 3


def test_a_hung_receiver_delays_neither_send_nor_the_other_receivers(tmp_path: Path) -> None:
    with serving(Receiver(hold=True)) as hung, serving(Receiver()) as fine:
        sender = notifier(tmp_path, Courier(spec(hung), 10, 1), Courier(spec(fine), 10, 1))
        sender.send(notice("refused"))
        sender.send(notice("failed"))  # send returned while the hung receiver holds the first
        assert hung.got.wait(10)
        while len(fine.requests) < 2:  # the other receiver gets both meanwhile
            assert not hung.release.is_set()
            time.sleep(0.01)
        assert len(hung.requests) == 1
        hung.release.set()
        sender.close()
    assert len(hung.requests) == 2


def test_a_full_queue_drops_new_notices_without_blocking(tmp_path: Path) -> None:
    with serving(Receiver(hold=True)) as hung:
        courier = Courier(spec(hung), capacity=2, attempts=1)
        sender = notifier(tmp_path, courier)
        sender.send(notice("refused"))
        assert hung.got.wait(10)  # the first is in flight, two wait, the rest are dropped
        offered = [courier.offer((hung.url, b"{}", {})) for _ in range(5)]
        assert offered == [True, True, False, False, False]
        hung.release.set()
        sender.close()
    assert len(hung.requests) == 3


def test_close_gives_up_on_what_is_not_delivered_by_the_deadline(tmp_path: Path) -> None:
    with serving(Receiver(hold=True)) as hung:
        sender = QueueNotifier([Courier(spec(hung), 10, 1)], Ledger(tmp_path / "sent.json"), 0.0)
        sender.send(notice())
        done = threading.Event()
        threading.Thread(target=lambda: (sender.close(), done.set()), daemon=True).start()
        assert done.wait(30)  # returned while the receiver still holds the request
        assert not hung.release.is_set()


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120.0
    assert retry_after("Sat, 05 Dec 2026 10:00:30 GMT", now) == 30.0
    assert retry_after("Sat, 05 Dec 2026 09:00:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None and retry_after(None, now) is None


def test_the_ledger_survives_a_new_process_and_an_unreadable_file(tmp_path: Path) -> None:
    Ledger(tmp_path / "sent.json").remember("team", NoticeKey("a" * 40, Event.REFUSED))
    assert Ledger(tmp_path / "sent.json").last("team") == NoticeKey("a" * 40, Event.REFUSED)
    (tmp_path / "sent.json").write_text("{not json")
    assert Ledger(tmp_path / "sent.json").last("team") is None
    assert (tmp_path / "sent.json.unreadable").read_text() == "{not json"
