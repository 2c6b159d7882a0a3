#!/usr/bin/env python3
"""Turns bench/run.sh's JSON lines into a markdown report and a chart.

Usage: report.py RAW.jsonl OUT.md OUT.png   (prints the markdown too)
"""
import json
import statistics
import sys

raw_path, md_path, png_path = sys.argv[1:4]
rows = [json.loads(line) for line in open(raw_path) if line.strip()]
meta = next(r for r in rows if r["kind"] == "meta")
size = next(r for r in rows if r["kind"] == "size")
frames = {(r["protocol"], r["batch"], r["body"]): r["bytes"] for r in rows if r["kind"] == "frame"}
# Several rounds of a cell: each figure is the median of its rounds.
runs = {}
for r in rows:
    if r["kind"] == "net":
        runs.setdefault((r["server"], r["protocol"], r["batch"], r["body"], r["client"]), []).append(r)
net = {}
for key, rs in runs.items():
    med = dict(rs[0])
    for field, value in rs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            med[field] = statistics.median(x[field] for x in rs)
    med["rounds"] = len(rs)
    med["events_per_s_spread"] = (min(x["events_per_s"] for x in rs), max(x["events_per_s"] for x in rs))
    net[key] = med
enc = [r for r in rows if r["kind"] == "encode"]

SERVERS = [("null", "null sink"), ("java", "Java (Flume's setup)"), ("flume", "Flume 1.11 agent")]
PROTOCOLS = ["compact", "binary"]
BODIES = [256, 4096]
BATCHES = [1, 100, 1000]
CLIENTS = [("floor", "floor"), ("flume", "flume-client (C API)"), ("thrift-cpp", "Thrift C++"),
           ("flume-java", "Flume Java client (flume-ng-sdk)")]
FLOOR_TARGET = {1: 0.95, 100: 0.92, 1000: 0.85}  # issue 15


def body_name(b):
    return "4 KiB" if b == 4096 else f"{b} B"


def fmt_rate(x):
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k"
    return f"{x:.0f}"


def mbps(server, p, n, b, client):
    r = net[(server, p, n, b, client)]
    return r["events_per_s"] * frames[(p, n, b)] / n / 1e6


def cpu3(*runs):
    return " / ".join(f"{x['cpu_us_per_event']:.3g}" if x else "–" for x in runs)


def get(server, p, n, b, client):
    return net.get((server, p, n, b, client))


out = []
w = out.append
w("Each client in each cell: %s s measured after %s s of untimed calls, one process, one connection, calls one "
  "after another; %s round(s) of the clients per cell, each figure the median of the rounds. %s"
  % (meta["seconds"], meta["warmup"], meta.get("repeat", 1),
     "Clients on core 0, servers on core 1." if meta.get("pinned") else "Client and server share the cores."))
w("")
w("**Machine:** %s cores (`nproc`), %s, %s GiB memory, Linux %s. %s; %s; %s; %s. Commit %s, %s." % (
    meta["nproc"], meta["cpu"], meta["mem_gib"], meta["kernel"], meta["rustc"], meta["cc"], meta["thrift"],
    meta["java"], meta["commit"], meta["date"]))
if meta.get("loadavg"):
    w("")
    w("**Load average at the start** (1, 5, 15 min): %s on %s cores%s." % (
        meta["loadavg"], meta["nproc"],
        "; other jobs shared the machine: single cells can be off by large factors, compare medians"
        if float(meta["loadavg"].split()[0]) > meta["nproc"] / 2 else ""))
if meta.get("quick"):
    w("")
    w("**--quick run: the numbers are noise; it only checks that the suite runs.**")
w("")
w("### Throughput and client CPU")
w("")
w("Events/s; wire MB/s (frame bytes, the same for every client); client CPU time (user + system, "
  "`getrusage(RUSAGE_SELF)`; for Flume's Java client the whole JVM's, JIT and GC included) per event; call "
  "latency p50 / p99 in µs (floor / flume-client / C++ / Flume Java); heap allocations per call "
  "(flume-client / C++). Servers: the null sink (`bench/src/bin/nullsink.rs`), Apache Thrift's Java server set "
  "up as Flume's Thrift source, and a real Apache Flume 1.11.0 agent (Thrift source with 8 threads, memory "
  "channel, null sink). Flume Java: flume-ng-sdk 1.11.0's `RpcClientFactory` with `client.type = thrift`.")
w("")
w("| server | protocol | body | batch | floor ev/s | flume-client ev/s | C++ ev/s | Flume Java ev/s | flume ÷ floor "
  "| flume ÷ C++ | flume ÷ Flume Java | flume MB/s | CPU µs/ev floor / flume / C++ / Flume Java | C++ CPU ÷ flume "
  "| p50 µs | p99 µs | allocs/call |")
w("|" + " --- |" * 17)
TARGETS = [
    ("floor", "≥ 95% / 92% / 85% of the floor's events/s at batch 1 / 100 / 1000 (null sink)"),
    ("cpp", "≥ the C++ client's events/s"),
    ("cpu", "≤ 1/4 of the C++ client's CPU per event"),
    ("alloc", "no heap allocation per call"),
]
checked = {t: 0 for t, _ in TARGETS}
misses = {t: [] for t, _ in TARGETS}
for server, sname in SERVERS:
    for p in PROTOCOLS:
        for b in BODIES:
            for n in BATCHES:
                fl, fc, cpp, jv = (get(server, p, n, b, c) for c, _ in CLIENTS)
                if not (fl and fc and cpp):
                    continue
                jv_rate = fmt_rate(jv["events_per_s"]) if jv else "–"
                r_jv = f"{fc['events_per_s'] / jv['events_per_s']:.2f}×" if jv else "–"
                jv_p50 = f"{jv['p50_us']:.0f}" if jv else "–"
                jv_p99 = f"{jv['p99_us']:.0f}" if jv else "–"
                r_floor = fc["events_per_s"] / fl["events_per_s"]
                r_cpp = fc["events_per_s"] / cpp["events_per_s"]
                r_cpu = cpp["cpu_us_per_event"] / fc["cpu_us_per_event"]
                w(f"| {sname} | {p} | {body_name(b)} | {n} | {fmt_rate(fl['events_per_s'])} | "
                  f"{fmt_rate(fc['events_per_s'])} | {fmt_rate(cpp['events_per_s'])} | {jv_rate} | {r_floor:.0%} | "
                  f"{r_cpp:.2f}× | {r_jv} | {mbps(server, p, n, b, 'flume'):.0f} | {cpu3(fl, fc, cpp, jv)} | "
                  f"{r_cpu:.1f}× | {fl['p50_us']:.0f} / {fc['p50_us']:.0f} / {cpp['p50_us']:.0f} / {jv_p50} | "
                  f"{fl['p99_us']:.0f} / {fc['p99_us']:.0f} / {cpp['p99_us']:.0f} / {jv_p99} | "
                  f"{fc['allocs_per_call']:.2f} / {cpp['allocs_per_call']:.1f} |")
                cell = f"{server}/{p}/{body_name(b)}/×{n}"
                if server == "null":
                    checked["floor"] += 1
                    if r_floor < FLOOR_TARGET[n]:
                        misses["floor"].append(f"{cell} {r_floor:.0%}")
                checked["cpp"] += 1
                if r_cpp < 1:
                    misses["cpp"].append(f"{cell} {r_cpp:.2f}×")
                checked["cpu"] += 1
                if r_cpu < 4:
                    misses["cpu"].append(f"{cell} {r_cpu:.1f}×")
                checked["alloc"] += 1
                if fc["allocs_per_call"] > 0:
                    misses["alloc"].append(f"{cell} {fc['allocs_per_call']:.2f}")

w("")
w("### Targets")
w("")
stripped_kb = size["stripped"] / 1024
w(f"- Stripped `libflume_client.so` (no TLS): **{stripped_kb:.0f} KiB** ({size['stripped']} bytes; "
  f"{size['unstripped'] / 1024:.0f} KiB unstripped); target < 1 MB: "
  f"{'met' if size['stripped'] < 1_000_000 else 'MISSED'}.")
bound = [get(s, p, n, b, "thrift-cpp")["cpu_us_per_event"] / get(s, p, n, b, "floor")["cpu_us_per_event"]
         for s, _ in SERVERS for p in PROTOCOLS for b in BODIES for n in BATCHES
         if get(s, p, n, b, "thrift-cpp") and get(s, p, n, b, "floor")]
if bound:
    w(f"- For scale: the floor itself (no encoding, two syscalls a call) uses 1/{max(bound):.1f} to "
      f"1/{min(bound):.1f} of the C++ client's CPU per event, so where that is above 1/4 the CPU target "
      f"cannot be met by any client over the same socket calls.")
for t, text in TARGETS:
    n_miss = len(misses[t])
    verdict = "met in every cell" if n_miss == 0 else f"missed in {n_miss} of {checked[t]} cells: " + ", ".join(misses[t])
    w(f"- {text}: {verdict}.")
jv_lines = []
for n in BATCHES:
    for server, sname in SERVERS:
        pairs = [(get(server, p, n, b, "flume"), get(server, p, n, b, "flume-java")) for p in PROTOCOLS for b in BODIES]
        pairs = [(fc, jv) for fc, jv in pairs if fc and jv]
        if pairs:
            ev = statistics.median(fc["events_per_s"] / jv["events_per_s"] for fc, jv in pairs)
            cpu = statistics.median(jv["cpu_us_per_event"] / fc["cpu_us_per_event"] for fc, jv in pairs)
            jv_lines.append(f"| {n} | {sname} | {ev:.2f}× | {cpu:.1f}× |")
if jv_lines:
    w("")
    w("### Against Flume's Java client")
    w("")
    w("Medians over both protocols and both body sizes: flume-client's events/s ÷ flume-ng-sdk's, and "
      "flume-ng-sdk's client CPU per event (the whole JVM's) ÷ flume-client's.")
    w("")
    w("| batch | server | events/s ratio | CPU ratio |")
    w("|" + " --- |" * 4)
    for line in jv_lines:
        w(line)
tls_lines = []
tls_misses = []
for p in PROTOCOLS:
    for b in BODIES:
        for n in BATCHES:
            fc, cpp, plain = get("null-tls", p, n, b, "flume"), get("null-tls", p, n, b, "thrift-cpp"), \
                get("null", p, n, b, "flume")
            if not (fc and cpp):
                continue
            r_cpp = fc["events_per_s"] / cpp["events_per_s"]
            if r_cpp < 1:
                tls_misses.append(f"{p}/{body_name(b)}/×{n} {r_cpp:.2f}×")
            vs_plain = f"{fc['events_per_s'] / plain['events_per_s']:.2f}×" if plain else "–"
            tls_lines.append(
                f"| {p} | {body_name(b)} | {n} | {fmt_rate(fc['events_per_s'])} | {fmt_rate(cpp['events_per_s'])} | "
                f"{r_cpp:.2f}× | {vs_plain} | {fc['cpu_us_per_event']:.3g} / {cpp['cpu_us_per_event']:.3g} | "
                f"{fc['p50_us']:.0f} / {cpp['p50_us']:.0f} |")


def section(title, intro, header, lines, target, misses):
    """A table of cells under `title`, then whether `target` was met in each."""
    if not lines:
        return
    w("")
    w(f"### {title}")
    w("")
    w(intro)
    w("")
    w(header)
    w("|" + " --- |" * (header.count("|") - 1))
    for line in lines:
        w(line)
    w("")
    w(f"- {target}: " + ("met in every cell." if not misses else
                         f"missed in {len(misses)} of {len(lines)} cells: " + ", ".join(misses) + "."))


section("TLS",
        "The null sink serving TLS (`nullsink --tls`, rustls, TLS 1.3), a certificate made for the run: this "
        "library built with TLS (rustls, through its C API) beside Apache Thrift's C++ client over `TSSLSocket` "
        "(OpenSSL), both verifying the certificate and its name. \"TLS ÷ plain\" is this library's events/s with "
        "TLS over its events/s against the plain null sink in the same cell.",
        "| protocol | body | batch | flume-client ev/s | C++ TSSLSocket ev/s | flume ÷ C++ | flume TLS ÷ plain "
        "| CPU µs/ev flume / C++ | p50 µs flume / C++ |",
        tls_lines, "≥ the C++ client's events/s with TLS", tls_misses)
async_lines = []
async_misses = {1: [], 4: [], "4b": []}
async_alloc_misses = []
measured_4 = measured_4b = 0
for p in PROTOCOLS:
    for b in BODIES:
        for n in BATCHES:
            fc = get("null", p, n, b, "flume")
            variants = ((1, "null-async"), (4, "null-async4"), ("4b", "null-async4b"))
            sends = {k: get(label, p, n, b, "flume-send") for k, label in variants}
            if not (sends[1] and fc):
                continue
            measured_4 += bool(sends[4])
            measured_4b += bool(sends["4b"])
            rates, ratios, cpus, allocs = [], [], [], []
            for k, fs in sends.items():
                if not fs:
                    rates.append("–"), ratios.append("–"), cpus.append("–"), allocs.append("–")
                    continue
                allocs.append(f"{fs['allocs_per_call']:.2f}")
                if fs["allocs_per_call"] > 0:
                    async_alloc_misses.append(f"{p}/{body_name(b)}/×{n}/{k} {fs['allocs_per_call']:.3f}")
                ratio = fs["events_per_s"] / fc["events_per_s"]
                if ratio < 0.9:
                    async_misses[k].append(f"{p}/{body_name(b)}/×{n} {ratio:.2f}×")
                rates.append(fmt_rate(fs["events_per_s"]))
                ratios.append(f"{ratio:.2f}×")
                cpus.append(f"{fs['cpu_us_per_event']:.3g}")
            async_lines.append(
                f"| {p} | {body_name(b)} | {n} | {rates[0]} | {rates[1]} | {rates[2]} | {fmt_rate(fc['events_per_s'])} | "
                f"{ratios[0]} / {ratios[1]} / {ratios[2]} | {cpus[0]} / {cpus[1]} / {cpus[2]} / "
                f"{fc['cpu_us_per_event']:.3g} | {allocs[0]} / {allocs[1]} / {allocs[2]} |")
section("Asynchronous path",
        "`flume_client_send` of every event (batch-size the cell's batch; a queue of at most 4 batches with "
        "`queue.full = block`, so that in steady state `send` waits for the sender thread), against the null "
        "sink, with one call in flight (the default) and with `queue.max-in-flight = 4` (calls pipelined on one "
        "connection), and for bodies of 1 KiB or more `flume_client_send_borrowed` with 4 in flight (the body "
        "left in the caller's memory until its report), beside `flume_client_append_batch` of the same batch in "
        "the same cell of the table above. CPU and heap allocations are the whole process's: the caller and the "
        "sender thread (allocations per call: per `batch` sends).",
        "| protocol | body | batch | send ev/s, 1 in flight | send ev/s, 4 in flight | send_borrowed ev/s, 4 in "
        "flight | append_batch ev/s | ÷ append_batch, send 1 / 4 / borrowed | CPU µs/ev send 1 / 4 / borrowed / "
        "append_batch | allocs/call send 1 / 4 / borrowed |",
        async_lines, "≥ 0.9× append_batch's events/s with one call in flight (the default)", async_misses[1])
if measured_4:
    misses = async_misses[4]
    w("- The same with 4 calls in flight: " + ("met in every cell measured." if not misses else
      f"missed in {len(misses)} of {measured_4} cells: " + ", ".join(misses) + "."))
if measured_4b:
    misses = async_misses["4b"]
    w("- `flume_client_send_borrowed` with 4 calls in flight: " + ("met in every cell measured." if not misses else
      f"missed in {len(misses)} of {measured_4b} cells: " + ", ".join(misses) + "."))
w("- No heap allocation per call on the asynchronous path: " + ("met in every cell." if not async_alloc_misses else
  f"missed in {len(async_alloc_misses)} cells: " + ", ".join(async_alloc_misses) + "."))
w("")
w("### Encoder alone")
w("")
w("`flume_client::wire::encode_call` into a reused buffer (every byte copied), beside `copy_from_slice` of the "
  "same frame (memcpy); each event has its own body in memory. The last column is what the client does: "
  "`encode_call_spliced`, which leaves bodies of 1 KiB or more in the caller's memory for the vectored write.")
w("")
w("| protocol | body | batch | frame bytes | encode GB/s | memcpy GB/s | encode ÷ memcpy | ns/event | ns/event, bodies ≥ 1 KiB spliced |")
w("|" + " --- |" * 9)
for r in enc:
    w(f"| {r['protocol']} | {body_name(r['body'])} | {r['batch']} | {r['frame_bytes']} | {r['encode_gbps']:.2f} | "
      f"{r['memcpy_gbps']:.2f} | {r['encode_gbps'] / r['memcpy_gbps']:.0%} | {r['encode_ns_per_event']:.0f} | "
      f"{r.get('spliced_ns_per_event', float('nan')):.0f} |")
md = "\n".join(out) + "\n"
open(md_path, "w").write(md)
print(md)

# ---- chart ----------------------------------------------------------------------
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

colors = {"floor": "#9e9e9e", "flume": "#1f77b4", "thrift-cpp": "#d62728", "flume-java": "#ff7f0e"}
fig, axes = plt.subplots(len(SERVERS) + 1, 2, figsize=(13, 4 * (len(SERVERS) + 1)))
labels = [f"{body_name(b)}\n×{n}" for b in BODIES for n in BATCHES]
width = 0.2
for col, p in enumerate(PROTOCOLS):
    for row, (server, sname) in enumerate(SERVERS):
        ax = axes[row][col]
        for i, (c, cname) in enumerate(CLIENTS):
            ys = [(get(server, p, n, b, c) or {}).get("events_per_s", 0) for b in BODIES for n in BATCHES]
            ax.bar([x + (i - 1.5) * width for x in range(len(labels))], ys, width, label=cname, color=colors[c])
        ax.set_yscale("log")
        ax.set_title(f"events/s, {sname} server, {p}")
        ax.set_xticks(range(len(labels)), labels)
        ax.grid(axis="y", which="both", alpha=0.3)
        if row == 0 and col == 0:
            ax.legend(loc="upper left", fontsize=8)
    ax = axes[len(SERVERS)][col]
    for i, (c, cname) in enumerate(CLIENTS):
        ys = [(get("null", p, n, b, c) or {}).get("cpu_us_per_event", 0) for b in BODIES for n in BATCHES]
        ax.bar([x + (i - 1.5) * width for x in range(len(labels))], ys, width, label=cname, color=colors[c])
    ax.set_yscale("log")
    ax.set_title(f"client CPU µs per event, null sink, {p} (lower is better)")
    ax.set_xticks(range(len(labels)), labels)
    ax.grid(axis="y", which="both", alpha=0.3)
fig.suptitle(f"flume-client vs Apache Thrift C++ vs Flume's Java client vs the floor ({meta['nproc']} cores, {meta['cpu']})", fontsize=11)
fig.tight_layout()
fig.savefig(png_path, dpi=90)
