"""Chat messages: the JSON body a chat service's incoming webhook takes for one notice.

Slack and Google Chat take ``{"text": …}`` (the headline, the one-line message, up to five
problems). Microsoft Teams' workflow webhooks ("Post to a channel when a webhook request is
received") take a message with one Adaptive Card attachment: the headline in bold, then the
same lines, each a ``TextBlock``. Called by ``controller.adapters.notify.receivers``.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.core.notices import Notice

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


def _text(notice: Notice) -> dict[str, object]:
    return {"text": notice.text()}


def _adaptive_card(notice: Notice) -> dict[str, object]:
    headline, *lines = notice.text().splitlines()
    blocks = [{"type": "TextBlock", "text": headline, "weight": "Bolder", "wrap": True}]
    blocks += [{"type": "TextBlock", "text": line, "wrap": True} for line in lines]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": blocks,
    }
    attachment = {"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


CHATS: dict[str, Callable[[Notice], dict[str, object]]] = {
    "slack": _text,
    "googlechat": _text,
    "msteams": _adaptive_card,
}
"""A chat receiver's type -> the message it posts. Its URL is the secret: nothing is signed."""
