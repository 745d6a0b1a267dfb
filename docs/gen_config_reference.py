"""Write the key tables of ``config/README.md`` from ``config/schema.yaml``.

The schema is the one place a default lives: every table in the config reference between
``<!-- keys: PATH [collapse=a,b] -->`` and ``<!-- /keys -->`` is generated from the ``default`` and
``description`` of the schema object at PATH (dotted; ``<name>`` steps into an object keyed by
name, ``.`` is the top level). Nested objects are flattened into dotted keys, except those with a
table of their own and those listed in ``collapse``. The prose around the tables is hand-written.

    python docs/gen_config_reference.py            # rewrite the tables in config/README.md
    python docs/gen_config_reference.py --check    # exit 1 when config/README.md is stale
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "config" / "schema.yaml"
REFERENCE = REPO / "config" / "README.md"

MARKER = re.compile(r"<!-- keys: (?P<path>\S+)(?: collapse=(?P<collapse>\S+))? -->\n(?P<body>.*?)<!-- /keys -->", re.S)
# the placeholder a table shows for an object keyed by name (default `<name>`)
PLACEHOLDERS = {"gan": "<run>", "classify": "<set>"}
NO_DEFAULT = "—"


def flow(value) -> str:
    """A default as the YAML a user would write."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {flow(item)}" for key, item in value.items()) + "}"
    return str(value)


def node(schema: dict, path: str) -> dict:
    """The schema object at a dotted path (``<...>`` steps into ``additionalProperties``)."""
    current = schema
    if path == ".":
        return current
    for step in path.split("."):
        current = current["additionalProperties"] if step.startswith("<") else current["properties"][step]
    return current


def is_keyed_by_name(sub: dict) -> bool:
    return isinstance(sub.get("additionalProperties"), dict) and "properties" not in sub


def rows(sub: dict, path: str, prefix: str, own_tables: set[str], collapse: set[str], required: bool = False):
    """(key, default, meaning) rows of one object, nested objects flattened."""
    for key, prop in sub.get("properties", {}).items():
        full, shown = f"{path}.{key}" if path != "." else key, f"{prefix}{key}"
        nested = prop.get("type") == "object" and prop.get("default", {}) == {}
        own = full in own_tables or key in collapse
        if key in sub.get("required", []):
            default = "required"
        elif "default" in prop:
            default = f"`{flow(prop['default'])}`"
        else:
            default = NO_DEFAULT
        description = " ".join(str(prop.get("description", "")).split())
        if not nested or own or description:
            yield shown, default, description
        if not nested or own:
            continue
        if is_keyed_by_name(prop):
            placeholder = PLACEHOLDERS.get(key, "<name>")
            child_path = f"{full}.{placeholder}"
            if child_path in own_tables:
                continue
            yield from rows(prop["additionalProperties"], child_path, f"{shown}.{placeholder}.", own_tables, collapse)
        else:
            yield from rows(prop, full, f"{shown}.", own_tables, collapse)


def table(schema: dict, path: str, own_tables: set[str], collapse: set[str]) -> str:
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, meaning in rows(node(schema, path), path, "", own_tables, collapse):
        lines.append(f"| `{key}` | {default} | {meaning.replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


def render(text: str, schema: dict) -> str:
    own_tables = {match["path"] for match in MARKER.finditer(text)}

    def replace(match: re.Match) -> str:
        collapse = set(match["collapse"].split(",")) if match["collapse"] else set()
        body = table(schema, match["path"], own_tables, collapse)
        head = match.group(0).split("\n", 1)[0]
        return f"{head}\n\n{body}\n<!-- /keys -->"

    return MARKER.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when config/README.md is stale")
    args = parser.parse_args(argv)
    schema = yaml.safe_load(SCHEMA.read_text())
    text = REFERENCE.read_text()
    new = render(text, schema)
    if args.check:
        if new != text:
            diff = difflib.unified_diff(text.splitlines(), new.splitlines(), "config/README.md", "generated", lineterm="")
            print("\n".join(diff))
            print("config/README.md is stale: run python docs/gen_config_reference.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        REFERENCE.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
