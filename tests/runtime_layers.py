#!/usr/bin/env python3
"""Check that the runtime's files call only down their stack of layers.

The stack is the list under "Layers" at the top of
host/runtime/internal.h, bottom first. This reads it, asks nm which
global symbols each object of the built libgwf-runtime.a defines and
which it uses, and fails when an object uses a symbol defined by an
object above it (a call up), or when an object of the library is not in
the list (a new file must be given its place), or a listed file is not
in the library.

Usage: runtime_layers.py INTERNAL_H LIBGWF_RUNTIME_A
"""
import re
import subprocess
import sys


def read_layers(header):
    """The .c files named in the "Layers" list, bottom first."""
    text = open(header, encoding="utf-8").read()
    start = text.find(" * Layers.")
    if start < 0:
        sys.exit(f"{header}: no \"Layers.\" paragraph")
    layers = []
    for line in text[start:].splitlines()[1:]:
        if line.startswith(" */"):
            break
        m = re.match(r" \*   (\w+\.c) ", line)
        if m:
            layers.append(m.group(1))
    if not layers:
        sys.exit(f"{header}: the \"Layers\" paragraph lists no file")
    return layers


def read_symbols(archive):
    """{file.c: (defined, used)} for every object of the archive."""
    out = subprocess.run(["nm", "-A", "-g", "--format=posix", archive],
                         check=True, capture_output=True, text=True).stdout
    objects = {}
    for line in out.splitlines():
        m = re.match(r".*\[(?:.*/)?([^/\]]+?)(?:\.o)?\]: (\S+) (\S)", line)
        if not m:
            continue
        name, symbol, kind = m.groups()
        defined, used = objects.setdefault(name, (set(), set()))
        if kind == "U":
            used.add(symbol)
        elif kind not in "wv":
            defined.add(symbol)
    return objects


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    header, archive = sys.argv[1], sys.argv[2]
    layers = read_layers(header)
    objects = read_symbols(archive)
    rank = {name: i for i, name in enumerate(layers)}
    problems = []
    for name in sorted(set(objects) - set(rank)):
        problems.append(f"{name}: not in the Layers list of {header}")
    for name in sorted(set(rank) - set(objects)):
        problems.append(f"{name}: listed in {header} but not in {archive}")
    owner = {}
    for name, (defined, _) in objects.items():
        for symbol in defined:
            owner[symbol] = name
    for name, (_, used) in sorted(objects.items(), key=lambda o: o[0]):
        for symbol in sorted(used):
            callee = owner.get(symbol)
            if callee is None or name not in rank or callee not in rank:
                continue
            if rank[callee] > rank[name]:
                problems.append(f"{name} calls up: {symbol} is {callee}'s "
                                f"(layer {rank[callee] + 1} above "
                                f"{rank[name] + 1})")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"{len(layers)} files, each calls only the files below it: "
          + " < ".join(layers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
