#!/usr/bin/env python3
"""Validates cxlmgrctl --json output against the schemas in tests/cli/schemas.

    validate_json.py [--lines] SCHEMA [FILE]   FILE (default: stdin) against SCHEMA
    validate_json.py --check-schemas DIR       every *.schema.json in DIR is a valid schema

--lines: every non-empty line is one document (events watch --json). The schemas refer to each
other by their $id (https://cxlmgr.invalid/cli/NAME), resolved from the schema's own directory,
never over the network.

Exit status: 0 valid, 1 invalid (each error printed with its place in the document), 2 usage
error or unreadable input.
"""

import json
import pathlib
import sys

import jsonschema

BASE = "https://cxlmgr.invalid/cli/"


def load_schemas(directory):
    schemas = {}
    for path in sorted(pathlib.Path(directory).glob("*.schema.json")):
        schema = json.loads(path.read_text())
        if schema.get("$id") != BASE + path.name:
            raise ValueError(f"{path}: $id must be {BASE + path.name}")
        schemas[schema["$id"]] = schema
    return schemas


def make_validator(schema, schemas):
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    try:
        # jsonschema >= 4.18 resolves references through `referencing`.
        from referencing import Registry, Resource

        registry = Registry().with_resources(
            (uri, Resource.from_contents(s)) for uri, s in schemas.items())
        return cls(schema, registry=registry)
    except ImportError:
        # Debian 12's python3-jsonschema (4.10): the RefResolver with a local store.
        resolver = jsonschema.RefResolver.from_schema(schema, store=schemas)
        return cls(schema, resolver=resolver)


def where(error):
    return "/" + "/".join(str(p) for p in error.absolute_path)


def main(argv):
    args = argv[1:]
    if len(args) == 2 and args[0] == "--check-schemas":
        try:
            schemas = load_schemas(args[1])
            for uri, schema in schemas.items():
                make_validator(schema, schemas)
        except (ValueError, jsonschema.SchemaError) as e:
            print(f"bad schema: {e}", file=sys.stderr)
            return 1
        if not schemas:
            print(f"no *.schema.json in {args[1]}", file=sys.stderr)
            return 1
        print(f"{len(schemas)} schemas are valid")
        return 0
    lines = False
    if args and args[0] == "--lines":
        lines = True
        args = args[1:]
    if len(args) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    schema_path = pathlib.Path(args[0])
    try:
        schemas = load_schemas(schema_path.parent)
        schema = json.loads(schema_path.read_text())
        text = pathlib.Path(args[1]).read_text() if len(args) == 2 else sys.stdin.read()
    except (OSError, ValueError) as e:
        print(f"cannot read: {e}", file=sys.stderr)
        return 2
    validator = make_validator(schema, schemas)
    chunks = [l for l in text.splitlines() if l.strip()] if lines else [text]
    if not chunks:
        print("no document to validate", file=sys.stderr)
        return 1
    failed = False
    for number, chunk in enumerate(chunks, 1):
        label = f"line {number}" if lines else "document"
        try:
            document = json.loads(chunk)
        except ValueError as e:
            print(f"{label}: not JSON: {e}", file=sys.stderr)
            failed = True
            continue
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path)):
            print(f"{label}: {where(error)}: {error.message}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
