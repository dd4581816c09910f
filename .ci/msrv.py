#!/usr/bin/env python3
"""The minimum Rust (workspace `rust-version`) as far as one toolchain can check it.

This machine has one Rust toolchain and cannot fetch another, so an MSRV build is not
possible here. What can be checked without one:
1. every dependency that is built declares a `rust-version` no newer than ours (this script);
2. our own code uses no standard-library API newer than ours: clippy's `incompatible_msrv`
   lint (on by default, `-D warnings` in .ci/run) reads `rust-version` from Cargo.toml.
"""
import json
import subprocess
import sys

metadata = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked",
         "--filter-platform", subprocess.run(["rustc", "-vV"], capture_output=True, text=True,
                                             check=True).stdout.split("host: ")[1].split()[0]],
        capture_output=True, text=True, check=True,
    ).stdout
)
members = set(metadata["workspace_members"])
used = {node["id"] for node in metadata["resolve"]["nodes"]}
packages = {p["id"]: p for p in metadata["packages"]}


def version(text):
    return tuple(int(part) for part in text.split(".")[:2])


ours = {version(packages[m]["rust_version"]) for m in members if packages[m].get("rust_version")}
if len(ours) != 1:
    sys.exit(f"workspace members disagree on rust-version: {sorted(ours)}")
(msrv,) = ours
newer = sorted(
    f'{p["name"]} {p["version"]} needs Rust {p["rust_version"]}'
    for pid, p in packages.items()
    if pid in used and pid not in members and p.get("rust_version")
    and version(p["rust_version"]) > msrv
)
if newer:
    sys.exit("dependencies newer than our rust-version {}.{}:\n  ".format(*msrv) + "\n  ".join(newer))
print("rust-version {}.{}: {} dependencies checked, none needs a newer Rust".format(
    *msrv, len(used - members)))
