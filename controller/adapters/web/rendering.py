"""``PageRenderer``: a view model from ``controller.services.pages`` in, a whole HTML page out.

Autoescape is on for every template and no template marks anything safe, so a description
holding ``<script>`` is text on the page. Built once by ``controller.app``.
"""

from __future__ import annotations

from importlib import resources
from urllib.parse import quote, urlencode

import jinja2


class PageRenderer:
    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("controller.adapters.web", "templates"),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters["path"] = lambda text: quote(str(text), safe="/")
        self._env.filters["short"] = lambda sha: (sha or "-")[:12]
        self._env.globals["query"] = lambda **args: urlencode({k: v for k, v in args.items() if v})
        self._css = resources.files("controller.adapters.web").joinpath("style.css").read_bytes()

    def page(self, name: str, model: object, title: str) -> str:
        return self._env.get_template(f"{name}.html").render(model=model, title=title)

    def stylesheet(self) -> bytes:
        return self._css
