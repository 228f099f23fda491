"""Reading what a sweep writes, for the sweep tests."""

import json


def read_jsonl(path):
    return [json.loads(line) for line in open(path)]


def table_rows(markdown):
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[c.strip() for c in row.strip("|").split("|")] for row in rows[2:]]
