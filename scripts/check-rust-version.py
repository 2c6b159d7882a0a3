#!/usr/bin/env python3
"""Checks that the workspace's declared rust-version ([workspace.package] in
Cargo.toml) is true for Cargo.lock: no package that a workspace member needs
to build (normal and build dependencies, every feature, every platform)
declares a newer rust-version. Prints the figures; exits 1 when a dependency
needs a newer Rust than declared, naming it.

Usage: scripts/check-rust-version.py   (from anywhere in the repository)
"""
import json
import os
import subprocess
import sys


def version(text):
    """"1.85" and "1.85.0" alike, as (1, 85, 0)."""
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    features = "flume-client/tls,flume-client/kerberos,flume-tools/tls,flume-tools/kerberos"
    metadata = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--features", features], cwd=root
        )
    )
    packages = {p["id"]: p for p in metadata["packages"]}
    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
    members = metadata["workspace_members"]
    declared = {packages[m]["name"]: packages[m].get("rust_version") for m in members}
    missing = [name for name, rv in declared.items() if not rv]
    if missing:
        print(f"workspace members without rust-version: {', '.join(missing)}", file=sys.stderr)
        return 1
    msrv = max(declared.values(), key=version)

    # Every package a member needs to build: its normal and build dependencies, transitively.
    needed = {}
    todo = [(m, packages[m]["name"]) for m in members]
    while todo:
        package_id, via = todo.pop()
        if package_id in needed:
            continue
        needed[package_id] = via
        for dep in nodes[package_id]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            if kinds & {None, "build"}:
                todo.append((dep["pkg"], f"{via} > {packages[dep['pkg']]['name']}"))

    too_new = []
    highest = ("0", "")
    for package_id, via in needed.items():
        rv = packages[package_id].get("rust_version")
        if not rv or package_id in members:
            continue
        if version(rv) > version(highest[0]):
            highest = (rv, via)
        if version(rv) > version(msrv):
            too_new.append((rv, via))
    print(f"declared rust-version {msrv}; highest needed by the {len(needed)} packages built: {highest[0]} ({highest[1]})")
    if too_new:
        for rv, via in sorted(too_new, key=lambda t: version(t[0]), reverse=True):
            print(f"  {via} needs Rust {rv}", file=sys.stderr)
        print(
            f"rust-version {msrv} is not true for Cargo.lock: set [workspace.package] rust-version to "
            f"{max((rv for rv, _ in too_new), key=version)} (or pin the dependencies lower)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
