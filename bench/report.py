#!/usr/bin/python3
"""Turns the driver's raw results into bench/results/latest.json, latest.md and the PNG charts.

    /usr/bin/python3 bench/report.py RAW_JSON RESULTS_DIR [--command CMD] [--total-seconds S] [--build-seconds S]

Adds the record of the machine, every figure's ratio to the bare process, and the issue-5 targets.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone

MODES = [
    ("bare", "bare process"),
    ("bwrap", "plain bwrap jail"),
    ("cordon_run", "cordon run (CLI, cold)"),
    ("lib_cold", "library, cold"),
    ("lib_warm", "library, warm"),
    ("native_cold", "HTTP /v1, cold"),
    ("native_warm", "HTTP /v1, warm"),
    ("piston_cold", "HTTP Piston, cold"),
    ("piston_warm", "HTTP Piston, warm"),
]
LABEL = dict(MODES)

HOW = {
    "bare": "the program run directly (`/usr/bin/python3 hello.py`, `node hello.js`, `bash hello.sh`, `./hello` compiled "
            "beforehand), spawned by the driver with Cordon's jail environment (PATH, HOME=/tmp, LANG=C.UTF-8, ...), "
            "cwd a tmpfs folder",
    "bwrap": "the same argv inside `{bwrap}`, spawned by the driver",
    "cordon_run": "`cordon run FILE` (the `cordon` on PATH: dotnet + ReadyToRun CLI), one process per sample, spawned by "
                  "the driver: .NET start, runtime probe, jail(s), cleanup",
    "lib_cold": "`CordonEngine.ExecuteAsync` in the driver's process, engine without pools (a fresh jail per run)",
    "lib_warm": "the same with warm pools for python, javascript and c (MinSize 2, MaxSize 8, the server's defaults)",
    "native_cold": "`POST /v1/executions` to a `cordon serve` started with `CORDON_WarmPool__Enabled=false`, one "
                   "keep-alive HttpClient (SocketsHttpHandler) in the driver",
    "native_warm": "the same to a `cordon serve` with its default pools (python, javascript, c; 2 to 8 jails each)",
    "piston_cold": "`POST /api/v2/execute` (Piston v2, `version: \"*\"`) to the cold server",
    "piston_warm": "`POST /api/v2/execute` to the warm server",
}


def run(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def first_line(text):
    return text.splitlines()[0].strip() if text else ""


def machine(root):
    info = {"date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    info["cores"] = os.cpu_count()
    model = re.search(r"^Model name:\s*(.+)$", run(["lscpu"]), re.M)
    info["cpu"] = model.group(1).strip() if model else platform.processor()
    with open("/proc/meminfo") as f:
        total = re.search(r"MemTotal:\s+(\d+) kB", f.read())
    info["memory_gib"] = round(int(total.group(1)) / 1024 / 1024, 1) if total else None
    info["kernel"] = platform.release()
    info["kernel_build"] = platform.version()
    distro = ""
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            m = re.search(r'^PRETTY_NAME="?([^"\n]+)', f.read(), re.M)
            distro = m.group(1) if m else ""
    if os.path.exists("/etc/debian_version"):
        with open("/etc/debian_version") as f:
            distro += f" (debian_version {f.read().strip()})"
    info["distribution"] = distro
    info["virtualization"] = run(["systemd-detect-virt"]) or "unknown"
    info["bubblewrap"] = run(["bwrap", "--version"])
    info["dotnet_sdk"] = run(["dotnet", "--version"])
    info["python"] = run(["/usr/bin/python3", "--version"])
    info["node"] = run(["/usr/bin/node", "--version"])
    info["gcc"] = first_line(run(["gcc", "--version"]))
    info["bash"] = first_line(run(["bash", "--version"]))
    # The `cordon` on PATH may be another checkout's, or broken: only a plain version string is recorded.
    version = run(["cordon", "--version"])
    info["cordon"] = version if re.fullmatch(r"[\w.+-]{1,40}", version) else ""
    commit = run(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    dirty = run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
    info["git_commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    fs = run(["stat", "-fc", "%T", "/sys/fs/cgroup"])
    mounts = []
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if parts[2] in ("cgroup", "cgroup2"):
                name = os.path.basename(parts[1])
                opts = [o for o in parts[3].split(",") if o not in ("rw", "ro", "nosuid", "nodev", "noexec", "relatime", name, "name=" + name)]
                mounts.append(f"{parts[1]} ({parts[2]}{': ' + ','.join(opts) if opts else ''})")
    layout = "cgroup v2 (unified)" if fs == "cgroup2fs" else "cgroup v1 / hybrid" if fs == "tmpfs" else fs
    info["cgroup"] = {"layout": layout, "mounts": mounts}
    info["cgroup"]["attach_note"] = ("time to move one process into fresh cgroups of the hierarchies a jail joins "
                                     "(what every cold jail start does)")
    info["cgroup_summary"] = layout + "; " + ", ".join(m.replace("/sys/fs/cgroup/", "") for m in mounts)
    info["cgroup_attach"] = cgroup_attach_probe(mounts)
    return info


def cgroup_attach_probe(mounts, rounds=15):
    """Median and max ms to move a process into a fresh cgroup of every hierarchy (what a cold jail start does).

    On some kernels the first cgroup.procs write waits for an RCU grace period (the global
    cgroup_threadgroup_rwsem), about one or more scheduler ticks; cgroup2's favordynmods avoids it.
    """
    import statistics
    import time
    # The hierarchies a jail joins (cpuset needs its own set-up before it takes a process; systemd's is not one).
    dirs = []
    for m in mounts:
        path = m.split(" ")[0]
        if os.path.basename(path) in ("cpuset", "systemd", "devices", "blkio", "net_cls", "perf_event", "hugetlb", "rdma", "misc"):
            continue
        if os.path.isfile(os.path.join(path, "cgroup.procs")) and os.access(path, os.W_OK):
            dirs.append(path)
    if not dirs:
        return None
    times = []
    for i in range(rounds):
        made = []
        child = subprocess.Popen(["sleep", "10"])
        try:
            for d in dirs:
                p = os.path.join(d, f"cordon-bench-probe-{os.getpid()}-{i}")
                os.mkdir(p)
                made.append(p)
            t = time.perf_counter()
            for p in made:
                with open(os.path.join(p, "cgroup.procs"), "w") as f:
                    f.write(str(child.pid))
            times.append((time.perf_counter() - t) * 1000)
        except OSError:
            return None
        finally:
            child.kill()
            child.wait()
            for p in made:
                for _ in range(100):
                    try:
                        os.rmdir(p)
                        break
                    except OSError:
                        time.sleep(0.01)
        time.sleep(0.02)
    return {"hierarchies": len(dirs), "median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


BEGIN = "<!-- bench/run writes from here to the end marker: the latest results -->"
END = "<!-- end of bench/run's results -->"


def splice(readme, text, begin=BEGIN, end_marker=END):
    """Replaces what lies between the two markers in the README (nothing else); no markers, no change."""
    with open(readme) as f:
        content = f.read()
    start, end = content.find(begin), content.find(end_marker)
    if start < 0 or end < start:
        print(f"report.py: {readme} has no bench markers; left as it is", file=sys.stderr)
        return
    content = content[:start + len(begin)] + "\n" + text + content[end:]
    with open(readme, "w") as f:
        f.write(content)


def write_json(folder, name, value):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as f:
        json.dump(value, f, indent=1)
        f.write("\n")


def ratio(value, base):
    if value is None or base is None or base == 0 or value != value or base != base:
        return None
    return round(value / base, 2)


def fmt_ms(v):
    if v is None or v != v:
        return "-"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def fmt_x(r):
    if r is None:
        return "-"
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("out")
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--total-seconds", type=float)
    ap.add_argument("--build-seconds", type=float)
    ap.add_argument("--readme", help="a README whose block between the bench markers gets the summary")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(args.raw) as f:
        raw = json.load(f)

    info = machine(root)
    if raw.get("sessions"):
        sessions_report(raw, info, args)
    if not raw["latency"]:
        return 0

    lat = {(c["mode"], c["workload"]): c for c in raw["latency"]}
    workloads = [w for w in raw["workloads"] if any(k[1] == w["name"] for k in lat)]
    modes = [m for m, _ in MODES if any(k[0] == m for k in lat)]
    for c in raw["latency"]:
        base = lat.get(("bare", c["workload"]))
        for p in ("p50", "p95", "p99"):
            c[f"{p}_x_bare"] = ratio(c[f"{p}_ms"], base[f"{p}_ms"]) if base and c["n"] else None
        bw = lat.get(("bwrap", c["workload"]))
        c["p50_x_bwrap"] = ratio(c["p50_ms"], bw["p50_ms"]) if bw and c["n"] else None
    tput = {(c["mode"], c["workload"], c["concurrency"]): c for c in raw["throughput"]}
    for c in raw["throughput"]:
        base = tput.get(("bare", c["workload"], c["concurrency"]))
        c["rps_x_bare"] = ratio(c["rps"], base["rps"]) if base else None

    def p50(mode, wl):
        c = lat.get((mode, wl))
        return c["p50_ms"] if c and c["n"] else None

    # The issue-5 targets, checked from this run.
    targets = []

    def target(name, value, limit, unit, ok, detail):
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit,
                        "met": None if value is None else ok, "detail": detail})

    for mode in ("native_warm", "piston_warm"):
        c = lat.get((mode, "python"))
        if c and c["n"]:
            target(f"warm Python hello, {LABEL[mode]}, p50", c["p50_ms"], 3, "ms", c["p50_ms"] <= 3, "")
            target(f"warm Python hello, {LABEL[mode]}, p99", c["p99_ms"], 10, "ms", c["p99_ms"] <= 10, "")
    c = lat.get(("native_warm", "javascript"))
    if c and c["n"]:
        target("warm JavaScript hello, HTTP /v1, p50", c["p50_ms"], 5, "ms", c["p50_ms"] <= 5, "")
    for mode in ("native_warm", "piston_warm"):
        cells = [t for t in raw["throughput"] if t["mode"] == mode and t["workload"] == "python"]
        if cells:
            best = max(cells, key=lambda t: t["rps"])
            target(f"Python hello/s, {LABEL[mode]}", best["rps"], 150, "/s", best["rps"] >= 150,
                   f"best at concurrency {best['concurrency']}")
    for wl in ("python", "javascript", "bash"):
        b, j = p50("bare", wl), p50("bwrap", wl)
        for mode in ("lib_cold", "native_cold"):
            m = p50(mode, wl)
            if None in (b, j, m) or j - b <= 0:
                continue
            over = round((m - b) / (j - b), 2)
            target(f"cold {wl} hello, {LABEL[mode]}: jail overhead vs plain bwrap's", over, 1.5, "x", over <= 1.5,
                   f"({fmt_ms(m)} - {fmt_ms(b)}) / ({fmt_ms(j)} - {fmt_ms(b)}) ms; whole latency {fmt_x(ratio(m, j))} bwrap's")

    compile_cell = lat.get(("bare", "c_compile_run"))
    result = {
        "command": args.command,
        "total_seconds": args.total_seconds,
        "build_seconds": args.build_seconds,
        "machine": info,
        "driver": {k: raw[k] for k in ("started_utc", "finished_utc", "driver_seconds", "dotnet_runtime", "cores",
                                       "quiet_source", "quiet_at_start", "background_cpu_percent_start",
                                       "background_cpu_percent_end", "budget", "warm_pool", "bwrap_command")},
        "modes": [{"mode": m, "label": LABEL[m], "how": HOW[m].format(bwrap=raw["bwrap_command"])} for m in modes],
        "workloads": raw["workloads"],
        "latency": raw["latency"],
        "throughput": raw["throughput"],
        "targets": targets,
    }
    write_json(args.out, "latest.json", result)

    # ---- Markdown ----
    md = []
    budget = raw["budget"]
    md.append(f"Measured {raw['started_utc'][:16].replace('T', ' ')} UTC on {info['cores']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
              f"{info['distribution']}, kernel {info['kernel']}, {info['cgroup']['layout']}; {info['bubblewrap']}, "
              f".NET {raw['dotnet_runtime']}, {info['python']}, node {info['node']}, {info['gcc']}. "
              f"Cordon {info['cordon'] + ' ' if info['cordon'] else ''}at {info['git_commit']}. "
              f"Whole run {args.total_seconds:.0f} s (build {args.build_seconds:.0f} s)." if args.total_seconds else "")
    md.append("")
    i_p50 = len(md)
    md.append("**Latency, p50 ms (ratio to the bare process)**, sequential: one request at a time, each on a quiet "
              "machine with Cordon idle (pools refilled):")
    md.append("")
    workload_table(md, modes, workloads, lat, lambda m, c:
                   "-" if not c else "failed" if not c["n"]
                   else fmt_ms(c["p50_ms"]) if m == "bare" else f"{fmt_ms(c['p50_ms'])} ({fmt_x(c['p50_x_bare'])})")
    if compile_cell and compile_cell["n"]:
        cw = lat.get(("bare", "c"))
        md.append(f"C: the bare and bwrap rows run `./hello` compiled beforehand; every Cordon row compiles `main.c` "
                  f"(gcc -O2, in its own jail) and then runs it, end to end. The bare equivalent of that, "
                  f"`gcc -O2 hello.c && ./hello`, takes p50 {fmt_ms(compile_cell['p50_ms'])} ms "
                  f"(p95 {fmt_ms(compile_cell['p95_ms'])}, n={compile_cell['n']}); against it the Cordon C rows are: "
                  + ", ".join(f"{LABEL[m]} {fmt_x(ratio(p50(m, 'c'), compile_cell['p50_ms']))}"
                              for m in modes if m not in ("bare", "bwrap") and p50(m, "c")) + ".")
        md.append("")
    i_p50_end = len(md)
    md.append("**Latency tail: p95 / p99 ms (ratios to the bare process's p95 / p99)**, same samples:")
    md.append("")
    workload_table(md, modes, workloads, lat, lambda m, c:
                   "-" if not c or not c["n"]
                   else f"{fmt_ms(c['p95_ms'])} / {fmt_ms(c['p99_ms'])}" if m == "bare"
                   else f"{fmt_ms(c['p95_ms'])} / {fmt_ms(c['p99_ms'])} ({fmt_x(c['p95_x_bare'])} / {fmt_x(c['p99_x_bare'])})")
    staged = [m for m in modes if any(lat.get((m, w["name"]), {}).get("stage_p50_ms") is not None for w in workloads)]
    if staged:
        md.append("**Where the time goes: p50 end to end / p50 of the stages' wall time as Cordon reports it** "
                  "(`usage.wall_time` of compile + run: from handing the program over to its exit; the rest is "
                  "Cordon's own work around the stage: request, files, jail start or pool take, cleanup, answer), ms:")
        md.append("")
        workload_table(md, staged, workloads, lat, lambda m, c:
                       "-" if not c or not c["n"] or c.get("stage_p50_ms") is None
                       else f"{fmt_ms(c['p50_ms'])} / {fmt_ms(c['stage_p50_ms'])}")
        md.append("(The native API reports whole milliseconds.)")
        md.append("")
    md.append("**CPU per run, ms (p50)**: CPU time of the whole host from a sequential sample's start until the machine "
              "and Cordon were idle again, so the jail's cleanup and the pool's refill count (so does the harness's "
              "own work: process spawning, HTTP client, polling). On 2 cores, 2000 / this is the most runs per second "
              "the machine could sustain:")
    md.append("")
    workload_table(md, modes, workloads, lat, lambda m, c: "-" if not c or c.get("cpu_ms_p50") is None else fmt_ms(c["cpu_ms_p50"]))
    ns = [c["n"] for c in raw["latency"] if c["workload"] != "c_compile_run"]
    md.append(f"Samples per cell: {min(ns)} to {max(ns)} (each cell takes up to {budget['max_samples']} samples "
              f"or {budget['cell_seconds']:g} s, at least {budget['min_samples']}; {budget['warmup']} unmeasured first); "
              f"with fewer than 100 samples p99 is close to the maximum. Every sample's answer is checked "
              f"(stdout and verdict); errors: {sum(c['errors'] for c in raw['latency'])}. "
              f"Waits for a quiet machine that timed out ({budget['settle_timeout_seconds']:g} s; the sample was taken "
              f"anyway): {sum(c['settle_timeouts'] for c in raw['latency'])} of {sum(c['n'] + c['errors'] for c in raw['latency'])}. "
              f"Background CPU (everything on the host while the driver waited) {raw['background_cpu_percent_start']}% "
              f"of the cores before the run, {raw['background_cpu_percent_end']}% after"
              + ("" if raw["quiet_at_start"] else "; WARNING: the machine was never quiet for 1 s before the run, so "
                 "other work skewed these figures") + ".")
    pooled = [c for c in raw["latency"] if c.get("pool_hits") is not None and c["mode"].endswith("_warm")
              and any(w["name"] == c["workload"] and w["language"] in raw["warm_pool"]["runtimes"] for w in raw["workloads"])]
    if pooled:
        hits = sum(c["pool_hits"] for c in pooled)
        total = sum(c["pool_hits"] + c["pool_misses"] for c in pooled)
        md.append(f"Warm rows: {hits} of {total} sequential runs of pooled runtimes (python, javascript, c) took a "
                  f"pre-started jail; bash has no launcher and runs cold in every mode.")
    md.append("")

    i_tput = len(md)
    tws = sorted({c["workload"] for c in raw["throughput"]})
    for wl in tws:
        concs = sorted({c["concurrency"] for c in raw["throughput"] if c["workload"] == wl})
        label = next(w["label"] for w in raw["workloads"] if w["name"] == wl)
        md.append(f"**Throughput, {label}: requests/s (ratio to the bare process) at concurrency "
                  + ", ".join(map(str, concs)) + f"**, closed loop, {budget['throughput_seconds']:g} s per cell, no pauses; "
                  "p50 / p99 ms under that load in the last columns:")
        md.append("")
        md.append("| mode | " + " | ".join(f"c={c}" for c in concs) + " | " + " | ".join(f"p50/p99 c={c}" for c in concs)
                  + f" | CPU ms/request, busy % (c={concs[-1]}) |")
        md.append("|---|" + "---:|" * (2 * len(concs) + 1))
        for m in modes:
            row = [tput.get((m, wl, c)) for c in concs]
            if not any(row):
                continue
            r1 = [("-" if not t else f"{t['rps']:.0f}" + ("" if m == "bare" else f" ({fmt_x(t['rps_x_bare'])})")
                   + (f" [{t['errors']} err]" if t["errors"] else "")) for t in row]
            r2 = ["-" if not t else f"{fmt_ms(t['p50_ms'])} / {fmt_ms(t['p99_ms'])}" for t in row]
            last = row[-1]
            r3 = "-" if not last or last.get("cpu_ms_per_request") is None else \
                f"{fmt_ms(last['cpu_ms_per_request'])}, {last['cpu_busy_percent']:.0f}%"
            md.append(f"| {LABEL[m]} | " + " | ".join(r1) + " | " + " | ".join(r2) + f" | {r3} |")
        warm = [t for t in raw["throughput"] if t["workload"] == wl and t.get("pool_hits") is not None and t["mode"].endswith("_warm")]
        if warm:
            md.append("")
            md.append("Warm pool hits under load (hits/runs): " + "; ".join(
                f"{LABEL[t['mode']]} c={t['concurrency']}: {t['pool_hits']}/{t['pool_hits'] + t['pool_misses']}" for t in warm) + ".")
        md.append("")

    i_tput_end = i_targets = len(md)
    targets_table(md, "Issue-5", targets, lambda t: f"{t['value']:.2f}" if t["unit"] == "x" else f"{t['value']:.1f}")

    i_targets_end = len(md)
    md.append("**How it is measured.** One driver, `bench/Cordon.Bench` (C#), times every mode with the same code: it "
              "spawns the processes (Process.Start, empty stdin, both outputs read to the end), calls the library in its "
              "own process, and calls the HTTP APIs with one keep-alive HttpClient. A sample runs from before the spawn "
              "or request to the complete answer, and counts only if the answer is right (stdout, verdict or exit code). "
              "Latency is sequential: before each sample the driver waits until the machine is quiet (all CPU time on "
              f"the host, from `{raw['quiet_source']}`, below 20% of the cores over two 5 ms windows) and, for Cordon's "
              "modes, until no jail is in use or being cleaned up and the warm pools are back at their idle size "
              "(the library's `Host.LiveJails` and `Pool.Ready`, the server's `cordon_jails_live` gauge). So warm "
              "samples always find a refilled pool, and cold samples never compete with the previous run's cleanup. "
              "Throughput is the opposite: N workers in a closed loop with no pauses, so refills and cleanups compete "
              "with the runs, and pools can run dry. Percentiles are linear interpolations between closest ranks. "
              "Ratios: latency ratio = mode / bare at the same percentile; throughput ratio = mode rps / bare rps at "
              "the same concurrency. The servers log to a file with the engine's debug events on (one line per pooled "
              "run, to count pool hits); the rate limit is off; admission is at its default (2 x cores executions at "
              "once).")
    md.append("")
    md.append("| mode | how |")
    md.append("|---|---|")
    for m in modes:
        how = HOW[m].format(bwrap=raw["bwrap_command"]).replace("|", "\\|")
        md.append(f"| {LABEL[m]} | {how} |")
    md.append("")
    md.append(f"Machine: {info['cores']} cores, {info['cpu']}, {info['memory_gib']} GiB, systemd-detect-virt: {info['virtualization']}; "
              f"{info['distribution']}; kernel {info['kernel']} ({info['kernel_build']}); cgroups: {info['cgroup_summary']}; "
              + (f"moving a process into a fresh cgroup of all {a['hierarchies']} hierarchies takes {a['median_ms']} ms "
                 f"(max {a['max_ms']}); " if (a := info.get("cgroup_attach")) else "")
              + f"{info['bubblewrap']}; .NET SDK {info['dotnet_sdk']}, runtime {raw['dotnet_runtime']}; {info['python']}; "
              f"node {info['node']}; {info['gcc']}; {info['bash']}.")
    md.append("")
    md.append(f"Reproduce: `{args.command}` (as root, after installing the .NET SDK of global.json; it runs `bash build.sh setup`).")
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write("\n".join(md) + "\n")

    # The README's Performance section carries the main tables; bench/run splices them in between two markers.
    summary = md[:2] + md[i_p50:i_p50_end] + md[i_tput:i_tput_end] + md[i_targets:i_targets_end]
    summary.append("Every other figure of this run (p95/p99 with ratios, where the time goes, CPU per run, pool hits, "
                   "how each mode is measured, the machine): [bench/results/latest.md](bench/results/latest.md), "
                   "[latest.json](bench/results/latest.json)"
                   + ("; the sessions part: [bench/results/sessions.md](bench/results/sessions.md)." if raw.get("sessions") else "."))
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("\n".join(summary).rstrip("\n") + "\n")
    if args.readme:
        splice(args.readme, "\n".join(summary).rstrip("\n") + "\n")

    chart(raw, lat, modes, workloads, tput, info, args.out)


SESSIONS_BEGIN = "<!-- bench/run writes from here to the end marker: the latest session figures -->"
SESSIONS_END = "<!-- end of bench/run's session figures -->"

SESSION_MODES = [
    ("repl_bare", "bare python3 REPL on a pipe"),
    ("session_lib", "library (Session.RunCellAsync)"),
    ("session_http", "HTTP POST /v1/sessions/{id}/cells"),
]
CREATE_MODES = [
    ("session_lib", "library (SessionManager.CreateAsync)"),
    ("session_http", "HTTP POST /v1/sessions"),
]
MB = 1e6


def sessions_report(raw, info, args):
    """Writes sessions.md and sessions.json (the sessions part: round trip, creation, memory, the issue-6 targets)."""
    s = raw["sessions"]
    cells = {(c["mode"], c["workload"]): c for c in s["latency"]}
    ok = lambda c: c is not None and c["n"] > 0
    bare = cells.get(("repl_bare", "cell"))
    for c in s["latency"]:
        if c["workload"] == "cell" and ok(bare) and ok(c):
            for p in ("p50", "p95", "p99"):
                c[f"{p}_x_bare"] = ratio(c[f"{p}_ms"], bare[f"{p}_ms"])
    mem = s.get("memory")
    per = mem["per_session"] if mem else []

    def avg(key):
        vals = [m[key] for m in per if m.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    summary = {k: avg(k) for k in ("pss_bytes", "uss_bytes", "rss_bytes", "cgroup_bytes", "cgroup_anon_bytes", "cgroup_shmem_bytes")}
    roles = sorted({r for m in per for r in m["pss_by_role"]})
    summary["pss_by_role"] = {r: sum(m["pss_by_role"].get(r, 0) for m in per) / len(per) for r in roles}

    targets = []

    def target(name, value, limit, unit, met, detail=""):
        targets.append({"target": name, "value": value, "limit": limit, "unit": unit, "met": met, "detail": detail})

    for mode, limit in (("session_lib", 1), ("session_http", 2)):
        c = cells.get((mode, "cell"))
        if ok(c):
            target(f"`1+1` cell round trip, {dict(SESSION_MODES)[mode]}, p50", c["p50_ms"], limit, "ms", c["p50_ms"] <= limit)
    if summary["pss_bytes"] is not None:
        target(f"memory per idle Python session: PSS of its processes, mean of {mem['sessions']}", summary["pss_bytes"] / MB,
               20, "MB", summary["pss_bytes"] <= 20 * MB)

    result = {
        "command": args.command,
        "total_seconds": args.total_seconds,
        "machine": info,
        "driver": {k: raw[k] for k in ("started_utc", "finished_utc", "driver_seconds", "dotnet_runtime", "cores",
                                       "quiet_source", "quiet_at_start", "background_cpu_percent_start",
                                       "background_cpu_percent_end")},
        "latency": s["latency"],
        "back_to_back": s.get("back_to_back", []),
        "delete_p50_ms": s["delete_p50_ms"],
        "memory": mem,
        "memory_mean": summary,
        "targets": targets,
    }
    write_json(args.out, "sessions.json", result)

    md = []
    md.append(f"Measured {raw['started_utc'][:16].replace('T', ' ')} UTC on {info['cores']} cores ({info['cpu']}), "
              f"kernel {info['kernel']}, {info['cgroup']['layout']}; {info['bubblewrap']}, .NET {raw['dotnet_runtime']}, "
              f"{info['python']}. Cordon {info['cordon'] + ' ' if info['cordon'] else ''}at {info['git_commit']}. `{args.command}`"
              + (f", {args.total_seconds:.0f} s in all." if args.total_seconds else ".")
              + ("" if raw["quiet_at_start"] else " WARNING: the machine was not quiet before the run (background CPU "
                 f"{raw['background_cpu_percent_start']}% of the cores); the figures are noisy."))
    md.append("")
    md.append("**Session cell round trip, `1+1`, ms** (sequential, each cell on a quiet machine; ratio to the bare "
              "REPL at the same percentile). *Inside* is what the layer below measured for the same cell: for the "
              "library, `CellResult.Duration` (from writing the request to the kernel's pipe to its parsed reply); for "
              "HTTP, the answer's `duration_ms` (the same, taken in the server). CPU: the whole host's CPU time per cell. The "
              "last column sends the same cell back to back in a closed loop for a few seconds (no pause, so no process "
              "has gone idle in between): what a caller running cell after cell sees:")
    md.append("")
    f3 = lambda v: "-" if v is None else f"{v:.3f}"
    loops = {t["mode"]: t for t in s.get("back_to_back", [])}
    bare_loop = loops.get("repl_bare")

    def loop(mode):
        t = loops.get(mode)
        if not t or not t["completed"]:
            return "-"
        x = "" if mode == "repl_bare" or not bare_loop else f" ({fmt_x(ratio(t['p50_ms'], bare_loop['p50_ms']))})"
        return f"{f3(t['p50_ms'])}{x} / {f3(t['p99_ms'])}, {t['rps']:.0f}/s, CPU {t['cpu_ms_per_request']:.3f}"

    session_table(md, cells, SESSION_MODES, "cell", ["p50", "p95", "p99", "inside, p50", "CPU per cell, p50", "n",
                                                    "back to back: p50 / p99, cells/s, CPU per cell"], lambda mode, c: [
        *(f3(c[f"{p}_ms"]) + ("" if mode == "repl_bare" or c.get(f"{p}_x_bare") is None else f" ({fmt_x(c[f'{p}_x_bare'])})")
          for p in ("p50", "p95", "p99")),
        f3(c.get("stage_p50_ms")), "-" if c.get("cpu_ms_p50") is None else f"{c['cpu_ms_p50']:.2f}", str(c["n"]), loop(mode)])
    md.append("")
    md.append("**Session creation, ms**: *ready* is the create call's answer (the jail is up and the kernel has said "
              "hello); *first cell* runs from the same start to the answer of the session's first `1+1` cell; the "
              "session is then deleted, untimed (its p50 in the last column).")
    md.append("")
    session_table(md, cells, CREATE_MODES, "create", ["ready p50", "ready p95", "ready p99", "first cell p50", "first cell p95",
                                                      "first cell p99", "delete p50", "n"], lambda mode, c: [
        *(fmt_ms(c.get(f"stage_{p}_ms")) for p in ("p50", "p95", "p99")), *(fmt_ms(c[f"{p}_ms"]) for p in ("p50", "p95", "p99")),
        fmt_ms(s["delete_p50_ms"].get(mode)), str(c["n"])])
    md.append("")
    if per:
        md.append(f"**Memory per idle Python session**, mean of {mem['sessions']} sessions alive at once, each after its "
                  "creation and one `1+1` cell, read after a quiet second (MB = 10^6 bytes). The processes of a session are "
                  "those whose real uid is its host uid (bwrap's two, the supervisor, the kernel); PSS divides each shared "
                  "page among the processes that map it (the honest share of python3's code and libraries, which all "
                  "sessions and the host share), USS counts only pages no other process maps (what deleting the session "
                  "frees at least). The cgroup figures are the session's memory cgroup (page cache charged to it included):")
        md.append("")
        md.append("| measure | mean per session | min | max |")
        md.append("|---|---:|---:|---:|")

        def row(label, key):
            vals = [m[key] for m in per if m.get(key) is not None]
            if vals:
                md.append(f"| {label} | {sum(vals) / len(vals) / MB:.1f} MB | {min(vals) / MB:.1f} | {max(vals) / MB:.1f} |")

        row("**PSS of its processes** (the figure the target is checked against)", "pss_bytes")
        row("USS of its processes", "uss_bytes")
        row("RSS of its processes (shared pages counted in full)", "rss_bytes")
        row("cgroup usage (memory.usage_in_bytes / memory.current)", "cgroup_bytes")
        row("cgroup anonymous memory (memory.stat rss / anon)", "cgroup_anon_bytes")
        row("cgroup tmpfs / shared memory (memory.stat shmem)", "cgroup_shmem_bytes")
        md.append("")
        md.append("PSS by process: " + ", ".join(f"{r} {v / MB:.2f} MB" for r, v in summary["pss_by_role"].items())
                  + f". On the host, the engine's own cost per session, from the driver's memory after a full GC, before "
                  f"and after creating them, divided by their number: {mem['host_managed_per_session_bytes'] / 1e3:.0f} kB "
                  f"of managed heap; its RSS grew by "
                  + (f"{mem['host_rss_per_session_bytes'] / 1e3:.0f} kB per session" if mem["host_rss_per_session_bytes"] > 0
                     else "nothing measurable")
                  + " (the runtime keeps memory it freed, so RSS is a rough measure here).")
        md.append("")
    i_targets = len(md)
    targets_table(md, "Issue-6", targets, lambda t: f"{t['value']:.2f}")
    i_targets_end = len(md)
    md.append("**How it is measured.** The same driver as the rest of the harness (`bench/Cordon.Bench`, "
              "Sessions.cs) and the same sampling: warm-up cells first, then sequential samples, each after the machine "
              f"is quiet (all CPU time on the host, from `{raw['quiet_source']}`, under 20% of the cores for two 5 ms "
              "windows) and Cordon idle (no jail but the measured session's alive); every answer is checked (the value "
              "'2', no error). The bare REPL is `bench/session_repl.py`: python3 reading requests framed like the "
              "session kernel's (4-byte length, JSON) on a pipe, compiling and evaluating the code in a persistent "
              "namespace and answering the value's repr, framed the same way; the driver writes the frame and reads the "
              "answer with the same JSON code the other modes use, so the ratio is what the jail, the supervisor/kernel "
              "split, the kernel's per-cell work and Cordon's .NET layers add. The library modes call "
              "`CordonEngine.Sessions` in the driver's process (default `SessionOptions`); the HTTP modes call a "
              "`cordon serve` of this checkout on 127.0.0.1 with one keep-alive HttpClient.")
    with open(os.path.join(args.out, "sessions.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    if args.readme:
        block = md[:i_targets_end]
        block.append("How each figure is taken, and the machine: [bench/results/sessions.md](bench/results/sessions.md), "
                     "[sessions.json](bench/results/sessions.json).")
        splice(args.readme, "\n".join(block).rstrip("\n") + "\n", SESSIONS_BEGIN, SESSIONS_END)


def targets_table(md, issue, targets, fmt):
    """The targets checked from this run, met or not; fmt(target) formats its measured value."""
    if not targets:
        return
    md.append(f"**{issue} targets, from this run:**")
    md.append("")
    md.append("| target | measured | limit | met |")
    md.append("|---|---:|---:|:---:|")
    for t in targets:
        v = "-" if t["value"] is None else fmt(t)
        md.append(f"| {t['target']}{' ' + t['detail'] if t['detail'] else ''} | {v} {t['unit']} | "
                  f"{'≤' if t['unit'] != '/s' else '≥'} {t['limit']} {t['unit']} | {'yes' if t['met'] else 'no'} |")
    md.append("")


def workload_table(md, modes, workloads, lat, cell):
    """A table of modes by workloads: cell(mode, c) formats the mode's measurement c of each workload (None if none)."""
    md.append("| mode | " + " | ".join(w["label"] for w in workloads) + " |")
    md.append("|---|" + "---:|" * len(workloads))
    for m in modes:
        md.append(f"| {LABEL[m]} | " + " | ".join(cell(m, lat.get((m, w["name"]))) for w in workloads) + " |")
    md.append("")


def session_table(md, cells, modes, workload, header, row):
    """A table with one row per mode that measured the workload: row(mode, cell) gives its cells after the label."""
    md.append("| mode | " + " | ".join(header) + " |")
    md.append("|---|" + "---:|" * len(header))
    for mode, label in modes:
        c = cells.get((mode, workload))
        if c and c["n"]:
            md.append(f"| {label} | " + " | ".join(row(mode, c)) + " |")
        elif c:
            md.append(f"| {label} | failed: {(c.get('first_error') or '').replace('|', '/')} |" + " |" * (len(header) - 1))


def chart(raw, lat, modes, workloads, tput, info, out):
    cc = lat.get(("bare", "c_compile_run"))
    compile_ms = cc["p50_ms"] if cc and cc["n"] else None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = {
        "bare": "#4d4d4d", "bwrap": "#a6a6a6", "cordon_run": "#8c564b",
        "lib_cold": "#9ecae1", "lib_warm": "#08519c",
        "native_cold": "#a1d99b", "native_warm": "#006d2c",
        "piston_cold": "#fdae6b", "piston_warm": "#d94801",
    }
    fig, ax = plt.subplots(figsize=(15, 6.5), dpi=110)
    n = len(modes)
    width = 0.9 / n
    x = np.arange(len(workloads))
    for i, m in enumerate(modes):
        vals, lo, hi, p95 = [], [], [], []
        for w in workloads:
            c = lat.get((m, w["name"]))
            ok = c and c["n"]
            vals.append(c["p50_ms"] if ok else np.nan)
            hi.append((c["p99_ms"] - c["p50_ms"]) if ok else 0)
            lo.append(0)
            p95.append(c["p95_ms"] if ok else np.nan)
        pos = x - 0.45 + width * (i + 0.5)
        ax.bar(pos, vals, width * 0.92, color=colors.get(m), label=LABEL[m], zorder=2)
        ax.errorbar(pos, vals, yerr=[lo, hi], fmt="none", ecolor="black", elinewidth=0.8, capsize=2, zorder=3)
        ax.scatter(pos, p95, marker="_", s=40, color="black", linewidths=1.2, zorder=4)
        for px, v, h in zip(pos, vals, hi):
            if v == v:
                ax.text(px, (v + h) * 1.12, f"{v:.0f}" if v >= 10 else f"{v:.1f}", rotation=90, ha="center",
                        va="bottom", fontsize=6.5, color="#333333", zorder=6)
    if compile_ms:
        ci = next((i for i, w in enumerate(workloads) if w["name"] == "c"), None)
        if ci is not None:
            ax.hlines(compile_ms, ci - 0.45, ci + 0.45, colors="black", linestyles="dashed", linewidth=1, zorder=5)
            ax.text(ci - 0.44, compile_ms * 1.08, f"bare gcc -O2 + run: {compile_ms:.0f} ms", fontsize=7.5, zorder=5)
    ax.set_yscale("log")
    ax.set_xticks(x)
    labels = []
    for w in workloads:
        label = w["label"]
        if w["name"] == "c":
            label += "\n(Cordon rows: gcc + run;\nbare/bwrap: prebuilt binary)"
        labels.append(label)
    ax.set_xticklabels(labels, fontsize=9)
    ax.set_ylabel("latency, ms (log scale)")
    ax.grid(axis="y", which="both", alpha=0.3, zorder=0)
    ax.set_title(f"Cordon latency by mode: bar and number = p50 ms, tick = p95, whisker = p99 (sequential, idle machine) - "
                 f"{info['cores']} cores, {raw['started_utc'][:10]}", fontsize=11)
    ax.legend(ncol=5, fontsize=8.5, loc="upper left")
    ymax = max((c["p99_ms"] for c in raw["latency"] if c["n"]), default=1000)
    ax.set_ylim(0.3, ymax * 6)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "latency.png"))
    plt.close(fig)

    if raw["throughput"]:
        wl = "python" if any(c["workload"] == "python" for c in raw["throughput"]) else raw["throughput"][0]["workload"]
        fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
        for m in modes:
            pts = sorted((c["concurrency"], c["rps"]) for c in raw["throughput"] if c["mode"] == m and c["workload"] == wl)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colors.get(m), label=LABEL[m])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted({c["concurrency"] for c in raw["throughput"]}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("concurrency (closed loop)")
        ax.set_ylabel("requests/s (log scale)")
        ax.axhline(150, color="red", linestyle=":", linewidth=1)
        ax.text(1, 160, "target: 150/s through the API", color="red", fontsize=8)
        ax.grid(which="both", alpha=0.3)
        ax.set_title(f"Throughput, {wl} hello world, {info['cores']} cores", fontsize=11)
        ax.legend(fontsize=7.5, ncol=2)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "throughput.png"))
        plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
