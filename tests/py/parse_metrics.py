"""Parses a Prometheus text page (stdin) with the reference parser and
prints one JSON object per sample: {"name", "labels", "value"}. Fails on any
line the parser refuses."""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        print(json.dumps({"family": family.name, "type": family.type, "name": s.name,
                          "labels": s.labels, "value": s.value}))
