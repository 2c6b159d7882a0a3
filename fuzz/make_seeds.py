#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/seeds/<target>/.

The wire targets get every frame of tests/data/wire-vectors.txt (Apache
Thrift's own encodings), as a selector byte and the frame payload (see each
target's doc comment); the text targets get hand-written examples. The seeds
are checked in; run this again after the vectors change.
"""
import hashlib
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def vectors():
    lines = (ROOT / "tests" / "data" / "wire-vectors.txt").read_text().splitlines()
    title = None
    for line in lines:
        if line.startswith("#") or not line.strip():
            continue
        if not line.startswith(" "):
            title = line
            continue
        frame = bytes.fromhex(line)
        length = int.from_bytes(frame[:4], "big")
        assert length == len(frame) - 4, title
        yield title, frame[4:]


def write(target, name, data):
    directory = SEEDS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]


def main():
    for title, payload in vectors():
        protocol, kind, method = title.split()[:3]
        selector = 1 if protocol.startswith("binary") else 0
        if kind == "call":
            write("decode_call", slug(title), bytes([selector]) + payload)
        else:  # reply or exception
            selector |= 2 if method == "appendBatch" else 0
            write("decode_reply", slug(title), bytes([selector]) + payload)

    hosts = [
        "127.0.0.1:4141",
        "h1:4141, 10.0.0.2:4141 [::1]:4141",
        "agent1.example.org:4141,agent2.example.org:65535",
        "[fe80::1]:1 localhost:2\tbad_name-1.x:3",
    ]
    for i, text in enumerate(hosts):
        write("parse_host_list", f"hosts-{i}", text.encode())

    properties = [
        (ROOT / "fuzz" / "seeds-src" / "client.properties").read_text(),
        "batch-size = 500\nrequest-timeout: 1000\nconnect-timeout 2000\nprotocol=binary\n",
        "hosts = h1\nhosts.h1 = [::1]:4141\nmax-attempts = 1\n",
        "# comment\n! also a comment\nkey\\u0041 = a\\\n   b\\tc\\=\\:\nqueue.full = block\n",
        "client.type=default_failover\\\r\n\nhosts=a b\r\nhosts.a=a:1\rhosts.b=b:2\n",
        "queue.max-events=10\nqueue.max-bytes=100\nlinger-ms=0\nretries=3\nretry-backoff=1\nevent-timeout=5\nclose-timeout=0\n",
    ]
    for i, text in enumerate(properties):
        write("load_properties", f"properties-{i}", text.encode())


if __name__ == "__main__":
    main()
