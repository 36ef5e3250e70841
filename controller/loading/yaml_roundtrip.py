"""Round-trip YAML: write a new document field by field, or change named fields of an existing one.

The only importer of ruamel.yaml (an import-linter contract keeps it so). ``render_fields``
writes a document the way Prefect 2's ``Deployment.to_yaml`` lays one out: each top-level field
dumped on its own, with comment lines between them. ``update_fields`` loads an existing
document with its comments, key order, quoting, indentation and blank lines, replaces only the
fields whose value differs, and dumps it again, so a person's edits survive. Called by
``controller.loading.authoring``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

Section = tuple[str | None, Mapping[str, Any]]
"""Comment lines to write first (None: none), then fields dumped in their order."""


class RoundTripError(ValueError):
    """The existing text is not a YAML mapping that can be edited in place."""


def _yaml(mapping: int = 2, sequence: int = 2, offset: int = 0) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the person wrote on one
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.representer.add_representer(type(None), _null)
    return yaml


def _null(representer: Any, _: None) -> Any:
    """``null`` spelled out, as Prefect writes it (ruamel's default is an empty value)."""
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def render_fields(sections: Sequence[Section]) -> str:
    """A new document: each section's comment, then its fields, as block YAML."""
    yaml, out = _yaml(), io.StringIO()
    for comment, fields in sections:
        if comment is not None:
            out.write(comment)
        for key, value in fields.items():
            yaml.dump({key: _literal_multiline(value)}, out)
    return out.getvalue()


def load_mapping(text: str) -> dict[str, Any]:
    """The document as plain data (for comparing and checking an existing file)."""
    plain: dict[str, Any] = _plain(_load(text)[0])
    return plain


def update_fields(text: str, changes: Mapping[str, Any], after: Mapping[str, str]) -> str:
    """``text`` with each field of ``changes`` set; nothing else is touched. A field that is not
    there yet goes after the field ``after`` names for it (else at the end). A field whose value
    already equals the change is left exactly as written."""
    document, widths = _load(text)
    before = _plain(document)
    for key, value in changes.items():
        if key in document and _plain(document[key]) == value:
            continue
        new = _literal_multiline(value)
        if key in document:
            _carry_trailing_comment(document[key], new)
            document[key] = new
        else:
            anchor = after.get(key)
            keys = list(document)
            position = keys.index(anchor) + 1 if anchor in keys else len(keys)
            document.insert(position, key, new)
    out = io.StringIO()
    _yaml(*widths).dump(document, out)
    if load_mapping(out.getvalue()) != {**before, **changes}:  # never write what reads differently
        raise RoundTripError("editing it in place would change more than the named fields")
    return out.getvalue()


def _load(text: str) -> tuple[CommentedMap, tuple[int, int, int]]:
    widths = _indentation(text)
    try:
        document = _yaml(*widths).load(text)
    except YAMLError as exc:
        raise RoundTripError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if not isinstance(document, CommentedMap):
        raise RoundTripError("the file is not a YAML mapping")
    return document, widths


def _indentation(text: str) -> tuple[int, int, int]:
    """How the file indents, for ruamel: a nested mapping's keys, a sequence item's content, and
    its dash (``tags:`` then ``- a`` at the key's column, as Prefect writes, is 2, 2, 0). Read
    from the first top-level blocks; ruamel's own guess mixes the mapping and sequence widths."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    mapping = dash = None
    for opening, line in zip(lines, lines[1:], strict=False):
        if opening[:1].isspace() or opening.startswith("-") or not opening.rstrip().endswith(":"):
            continue
        depth = len(line) - len(line.lstrip())
        if line.lstrip().startswith("- "):
            dash = depth if dash is None else dash
        elif depth and mapping is None:
            mapping = depth
    return mapping or 2, (dash or 0) + 2, dash or 0


def _carry_trailing_comment(old: Any, new: Any) -> None:
    """Comment lines written after a block collection belong to its deepest last item in
    ruamel's model: when the collection is replaced, they move to the new value's deepest last
    item, so the comments and blank lines before the next field stay."""
    token = None
    for node, last in _last_items(old):
        entry = node.ca.items.get(last)
        if entry is not None:
            token = entry[2] if isinstance(node, CommentedMap) else entry[0]
    targets = list(_last_items(new))
    if token is None or not targets:
        return
    node, last = targets[-1]
    node.ca.items[last] = [None, None, token, None] if isinstance(node, CommentedMap) else [token, None]


def _last_items(node: Any) -> list[tuple[Any, Any]]:
    """(collection, key of its last item), from ``node`` down through each last item."""
    found = []
    while isinstance(node, (CommentedMap, CommentedSeq)) and len(node):
        last = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
        found.append((node, last))
        node = node[last]
    return found


def _literal_multiline(value: Any) -> Any:
    """Round-trip containers of ``value``; a multi-line string as a ``|-`` block, as Prefect
    writes a docstring."""
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    if isinstance(value, Mapping):
        out = CommentedMap()
        for k, v in value.items():
            out[k] = _literal_multiline(v)
        return out
    if isinstance(value, (list, tuple)):
        return CommentedSeq(_literal_multiline(v) for v in value)
    return value


def _plain(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node
