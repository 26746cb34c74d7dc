#!/usr/bin/env python3
"""
The architecture check (issue 10): reads the object files with nm and fails
on any call cycle between engine files, and on any VMOD or CLI reference to
an engine symbol that tinykvm.h does not declare (src/proto, the request
layer both use, is held to the same border).

    arch-check.py BUILDDIR SRCDIR [--report]

--report prints what it finds and exits 0 (for looking, not for gating).
"""
import os
import re
import subprocess
import sys


def archived(root):
    """The members of the built libraries: a source file deleted since an
    earlier build leaves its object behind, and that one must not count."""
    names = set()
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith(".a") and os.path.basename(d) == ".libs":
                out = subprocess.run(["ar", "t", os.path.join(d, f)],
                                     capture_output=True, text=True)
                names.update(out.stdout.split())
    return names


def objects(root, sub):
    """The object files under root/sub, by their source file's name."""
    out = {}
    members = archived(root) if sub == "src/engine" else set()
    for d, _, files in os.walk(os.path.join(root, sub)):
        for f in files:
            if not f.endswith(".o"):
                continue
            if ".libs" in d and members and f not in members:
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(d, root).replace(".libs", "").rstrip("/")
            name = re.sub(r"^lib\w+_la-", "", f[:-2])
            out[os.path.join(rel, name)] = path
    return out


def symbols(path):
    """(defined, undefined) global symbols of one object file."""
    text = subprocess.run(["nm", path], capture_output=True, text=True,
                          check=True).stdout
    defined, undefined = set(), set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U":
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
    return defined, undefined


def cycles(edges):
    """Strongly connected components of more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def api_names(header):
    """The functions tinykvm.h declares."""
    text = open(header).read()
    return set(re.findall(r"\b(tk_[a-z0-9_]+)\s*\(", text))


def levels(edges):
    """The engine's files by layer: each calls only files of lower layers."""
    depth = {}

    def level(f):
        if f not in depth:
            depth[f] = 0
            depth[f] = 1 + max((level(g) for g in edges[f]), default=-1)
        return depth[f]
    for f in edges:
        level(f)
    out = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for f, d in depth.items():
        out[d].append(f.replace("src/engine/", ""))
    return out


def main():
    build, src = sys.argv[1], sys.argv[2]
    report = "--report" in sys.argv
    engine = {k: symbols(v) for k, v in objects(build, "src/engine").items()}
    owner = {s: f for f, (d, _) in engine.items() for s in d}
    edges = {f: {owner[s] for s in u if s in owner and owner[s] != f}
             for f, (_, u) in engine.items()}
    problems = []
    for comp in cycles(edges):
        problems.append("engine files call each other in a cycle: " +
                        ", ".join(comp))
        if report:
            for f in comp:
                for s in sorted(engine[f][1]):
                    if owner.get(s) in comp and owner[s] != f:
                        problems.append("    %s -> %s (%s)" % (f, owner[s], s))
    api = api_names(os.path.join(src, "src/engine/tinykvm.h"))
    for sub in ("src/proto", "src/vmod", "src/cli"):
        for f, path in sorted(objects(build, sub).items()):
            for s in sorted(symbols(path)[1]):
                if s in owner and s not in api:
                    problems.append("%s uses %s, which tinykvm.h does not "
                                    "declare (%s)" % (f, s, owner[s]))
    if report and not problems:
        for i, level in enumerate(levels(edges)):
            print("layer %d: %s" % (i, " ".join(sorted(level))))
    for p in problems:
        print(p)
    if not problems:
        print("architecture: %d engine files, no call cycle; the request "
              "layer, the VMOD and the CLI use only tinykvm.h" % len(engine))
    return 0 if report or not problems else 1


if __name__ == "__main__":
    sys.exit(main())
