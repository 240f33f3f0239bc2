#!/usr/bin/env python3
"""Fails on a C++ function over 80 lines or a file over 500 lines that does
not say why.

- Files: every .cpp/.hpp under harness/, faults/, reports/, tests/, bench/ and
  lab/ over 500 lines must say at its top why: a comment line starting with
  `// Long file:` within its first 15 lines.
- Functions: clang-tidy's readability-function-size (LineThreshold 80: the
  lines of the body, lambdas and comments included) over the core library
  and the CLI (harness/, faults/, reports/), using the build's
  compile_commands.json. An exception is a line in
  tests/checks/long-functions.txt: `<path> <function> <reason>`.

Usage: sizes.py BUILD_DIR   (exit 0: nothing over; 1: something over)
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80
FILE_DIRS = ("harness", "faults", "reports", "tests", "bench", "lab")
FUNCTION_DIRS = ("harness/", "faults/", "reports/")
EXCEPTIONS = os.path.join(ROOT, "tests", "checks", "long-functions.txt")
WARNING = re.compile(r"^(?P<path>[^:\s]+):(?P<line>\d+):\d+: warning: function '(?P<name>[^']+)' exceeds")
NOTE = re.compile(r"^[^:\s]+:\d+:\d+: note: (?P<lines>\d+) lines including")


def long_files():
    problems = []
    for top in FILE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in sorted(files):
                if not f.endswith((".cpp", ".hpp")):
                    continue
                path = os.path.join(dirpath, f)
                with open(path, encoding="utf-8") as fh:
                    lines = fh.read().split("\n")
                count = len(lines) - (1 if lines and lines[-1] == "" else 0)
                if count > MAX_FILE_LINES and not any(l.startswith("// Long file:") for l in lines[:15]):
                    problems.append(f"{os.path.relpath(path, ROOT)}: {count} lines (over {MAX_FILE_LINES}): split it "
                                    "by concern, or say why at its top (`// Long file: <reason>`)")
    return problems


def read_exceptions():
    allowed = {}
    if os.path.exists(EXCEPTIONS):
        with open(EXCEPTIONS, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                parts = line.split(None, 2)
                if len(parts) < 3:
                    sys.exit(f"{EXCEPTIONS}:{n}: expected `<path> <function> <reason>`")
                allowed[(parts[0], parts[1])] = parts[2]
    return allowed


def tidy(path, build_dir):
    config = "{CheckOptions: [{key: readability-function-size.LineThreshold, value: %d}]}" % MAX_FUNCTION_LINES
    r = subprocess.run(["clang-tidy", "-p", build_dir, "--quiet", "--checks=-*,readability-function-size",
                        "--config=" + config, "--extra-arg=-Wno-unknown-warning-option", "--header-filter=" + re.escape(ROOT) + "/(harness|faults|reports)/",
                        path], capture_output=True, text=True)
    if r.returncode != 0 and "error:" in r.stdout + r.stderr:
        raise RuntimeError(f"clang-tidy failed on {path}:\n{r.stdout}{r.stderr}")
    return r.stdout


def long_functions(build_dir):
    with open(os.path.join(build_dir, "compile_commands.json"), encoding="utf-8") as fh:
        sources = sorted({e["file"] for e in json.load(fh)
                          if os.path.relpath(e["file"], ROOT).startswith(FUNCTION_DIRS)})
    found = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for out in pool.map(lambda p: tidy(p, build_dir), sources):
            last = None
            for line in out.splitlines():
                m = WARNING.match(line)
                if m:
                    last = (os.path.relpath(m["path"], ROOT), int(m["line"]), m["name"])
                    continue
                n = NOTE.match(line)
                if n and last:
                    found[last] = int(n["lines"])  # a header's function is reported once per includer
                    last = None
    return found


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sizes.py BUILD_DIR (a configured build with compile_commands.json)")
    problems = long_files()
    allowed = read_exceptions()
    used = set()
    for (path, line, name), count in sorted(long_functions(sys.argv[1]).items()):
        if (path, name) in allowed:
            used.add((path, name))
            print(f"sizes: {path}:{line} {name}: {count} lines, allowed: {allowed[(path, name)]}")
        else:
            problems.append(f"{path}:{line}: function {name}: {count} lines (over {MAX_FUNCTION_LINES}): split it "
                            f"into named steps, or list it with its reason in {os.path.relpath(EXCEPTIONS, ROOT)}")
    for key in sorted(set(allowed) - used):
        problems.append(f"{os.path.relpath(EXCEPTIONS, ROOT)}: {key[0]} {key[1]} is no longer over "
                        f"{MAX_FUNCTION_LINES} lines: remove the line")
    for p in problems:
        print(f"sizes: {p}", file=sys.stderr)
    if problems:
        print(f"sizes: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"sizes: no function over {MAX_FUNCTION_LINES} lines and no file over {MAX_FILE_LINES} lines without a reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
