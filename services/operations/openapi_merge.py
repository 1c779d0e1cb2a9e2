"""One OpenAPI document for the front door out of every service's own: the paths it forwards to a service and
the schemas they name.

Two services may each have a schema of the same name that are not the same schema (intake's ``MemberIn`` is
a household member, approval's a committee member): merged by name alone, the later one would replace the
earlier and ``POST /api/households`` would be documented with the committee's form. Such a schema of a later
service is renamed ``<service>.<Name>`` in the merged document, and every reference to it from that service's
paths and schemas follows.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

REF_PREFIX = "#/components/schemas/"


def merge_service_document(doc: dict[str, Any], sub: dict[str, Any], *, service: str,
                           forwarded: Collection[str]) -> None:
    """Merge ``sub`` (one service's document) into ``doc`` (the front door's, with ``components.schemas``) in
    place: the paths the front door forwards to that service (``forwarded``), and the schemas."""
    schemas: dict[str, Any] = doc["components"]["schemas"]
    theirs: dict[str, Any] = sub.get("components", {}).get("schemas", {})
    renamed = {name: f"{service}.{name}" for name, schema in theirs.items()
               if name in schemas and schemas[name] != schema}
    for path, item in sub.get("paths", {}).items():
        if path in forwarded:
            doc["paths"][path] = _with_refs_renamed(item, renamed)
    for name, schema in theirs.items():
        schemas[renamed.get(name, name)] = _with_refs_renamed(schema, renamed)
    for kind, entries in sub.get("components", {}).items():
        if kind != "schemas":
            doc["components"].setdefault(kind, {}).update(entries)


def _with_refs_renamed(node: Any, renamed: dict[str, str]) -> Any:
    if not renamed:
        return node
    if isinstance(node, dict):
        out = {k: _with_refs_renamed(v, renamed) for k, v in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX) and ref[len(REF_PREFIX):] in renamed:
            out["$ref"] = REF_PREFIX + renamed[ref[len(REF_PREFIX):]]
        return out
    if isinstance(node, list):
        return [_with_refs_renamed(v, renamed) for v in node]
    return node
