"""Read the notification settings file: one clear ``file:line:column: field: message`` or a model.

Called by ``controller.app`` when it builds the notifier; a file that does not validate is a
``ConfigError`` (exit 2) naming the first problem and how many more there are.
"""

from __future__ import annotations

from pydantic import ValidationError

from controller.core.diagnostics import Diagnostic, first_problem
from controller.errors import ConfigError
from controller.loading.manifests import read_mapping
from controller.loading.models.notifications import NotificationSettings
from controller.loading.problems import diagnostics_from_validation
from controller.loading.safe_yaml import Locator


def parse_notification_settings(path: str, raw: bytes) -> NotificationSettings:
    document = read_mapping(path, raw)
    if isinstance(document, Diagnostic):
        raise ConfigError(_problem([document]))
    try:
        return NotificationSettings.model_validate(document.data)
    except ValidationError as exc:
        raise ConfigError(
            _problem(diagnostics_from_validation(exc, NotificationSettings, path, Locator(document.text)))
        ) from None


def _problem(diagnostics: list[Diagnostic]) -> str:
    first = first_problem(diagnostics) or "invalid"
    return f"{first}; see the README's Notifications section"
