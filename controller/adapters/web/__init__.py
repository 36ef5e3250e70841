"""The status pages' HTML: jinja2 templates, escaped by default, and their one stylesheet.

The only importer of jinja2. ``controller.app`` hands a ``PageRenderer`` to the pages' HTTP
room (``controller.runtime.pages_http``), which never sees a template.
"""
