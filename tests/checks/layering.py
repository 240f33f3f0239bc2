#!/usr/bin/env python3
"""Prints haverify's include layering and fails on an upward include.

Layers, lowest first (docs/architecture.md): a file may include its own layer
and any lower one, never a higher one. harness/include/haverify/<layer>/ and
harness/src/<layer>/ hold the harness layers; faults/ and reports/ are layers
of their own. Tests, bench and lab are outside the rule (they may include
anything).

Usage: layering.py [--quiet]   (exit 0: no upward include; 1: some)
"""
import os
import re
import sys

LAYERS = ["core", "io", "config", "cluster", "faults", "workload", "check", "reports", "run", "cli"]
RANK = {name: i for i, name in enumerate(LAYERS)}
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_of_path(rel):
    parts = rel.split("/")
    if parts[0] in ("faults", "reports"):
        return parts[0]
    if parts[:3] == ["harness", "include", "haverify"] and len(parts) > 4:
        return parts[3]
    if parts[:2] == ["harness", "src"] and len(parts) > 3:
        return parts[2]
    return None


def layer_of_include(inc, including_file):
    parts = inc.split("/")
    if parts[0] == "haverify" and len(parts) > 2:
        return parts[1]
    if parts[0] in ("faults", "reports"):
        return parts[0]
    if len(parts) == 1:  # a private header beside the including file
        return layer_of_path(os.path.relpath(os.path.join(os.path.dirname(including_file), inc), ROOT))
    return None


def main():
    quiet = "--quiet" in sys.argv
    edges = {}
    upward = []
    unknown = []
    for top in ("harness", "faults", "reports"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in sorted(files):
                if not f.endswith((".cpp", ".hpp")):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)
                src = layer_of_path(rel)
                if src not in RANK:
                    unknown.append(f"{rel}: not inside a layer folder ({', '.join(LAYERS)})")
                    continue
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                for m in INCLUDE.finditer(text):
                    dst = layer_of_include(m.group(1), path)
                    line = text.count("\n", 0, m.start()) + 1
                    if dst not in RANK:
                        unknown.append(f'{rel}:{line}: #include "{m.group(1)}" names no layer')
                        continue
                    if dst != src:
                        edges.setdefault((src, dst), 0)
                        edges[(src, dst)] += 1
                    if RANK[dst] > RANK[src]:
                        upward.append(f'{rel}:{line}: {src} includes "{m.group(1)}" ({dst} is above {src})')
    if not quiet:
        print("include layering (lowest first): " + " <- ".join(LAYERS))
        for src in LAYERS:
            uses = [f"{dst} ({edges[(src, dst)]})" for dst in LAYERS if (src, dst) in edges]
            print(f"  {src:9} includes {', '.join(uses) if uses else '-'}")
    for problem in unknown + upward:
        print(f"layering: {problem}", file=sys.stderr)
    if unknown or upward:
        print(f"layering: {len(upward)} upward include(s), {len(unknown)} file(s) outside the layers: "
              "move the code to the right layer (docs/architecture.md)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
