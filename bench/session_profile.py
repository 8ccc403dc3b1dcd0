#!/usr/bin/python3
"""Where a session cell's round trip goes, below .NET: one Python client times `1+1` against

  repl        bench/session_repl.py, the harness's bare REPL on a pipe (the floor: framing, JSON, one eval);
  kernel      Cordon's real kernels/python/session_kernel.py (supervisor + forked kernel), no jail;
  kernel+bwrap the same inside a plain `bwrap --unshare-all` jail (namespaces, no seccomp, no cgroup);

and then times each step of the kernel's per-cell path in-process (the same calls run_cell makes, in its order),
so the kernel's own share can be split into its parts.

    /usr/bin/python3 bench/session_profile.py [--cells N] [--paused-cells N] [--pause-ms MS] [--json FILE]

The client writes a frame and blocks on the answer, like the library's KernelChannel; each figure is the median of N
cells after 200 unmeasured ones, back to back, and then of cells each sent after a pause (every process idle, as in
the harness's sequential samples).
"""
import argparse
import ast
import io
import json
import linecache
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join(ROOT, "kernels", "python", "session_kernel.py")
REPL = os.path.join(ROOT, "bench", "session_repl.py")
PYTHON = "/usr/bin/python3"
BWRAP = ["/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
         "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
         "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/work",
         "--ro-bind", KERNEL, "/opt/kernel.py", "--chdir", "/work"]
ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def read_exact(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def frame(obj):
    body = json.dumps(obj).encode()
    return len(body).to_bytes(4, "big") + body


def read_frame(fd):
    return json.loads(read_exact(fd, int.from_bytes(read_exact(fd, 4), "big")))


class Repl:
    def __init__(self):
        self.p = subprocess.Popen([PYTHON, REPL], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=ENV)
        self.w, self.r = self.p.stdin.fileno(), self.p.stdout.fileno()

    def cell(self, i, code):
        os.write(self.w, frame({"id": i, "op": "exec", "code": code}))
        return read_frame(self.r)

    def close(self):
        self.p.stdin.close()
        self.p.wait()


class Kernel:
    """The real supervisor + kernel with the session protocol's descriptors (0 control, 3 requests, 4 replies, 5 answers)."""

    def __init__(self, jailed, kernel=KERNEL):
        control_r, self.control_w = os.pipe()
        request_r, self.w = os.pipe()
        self.r, reply_w = os.pipe()
        answer_r, answer_w = os.pipe()
        path = "/opt/kernel.py" if jailed else kernel
        argv = ([*BWRAP[:BWRAP.index("/opt/kernel.py") - 1], kernel, *BWRAP[BWRAP.index("/opt/kernel.py"):]] if jailed else []) + [PYTHON, path, "sprofile"]
        wanted = {0: control_r, 3: request_r, 4: reply_w, 5: answer_w}

        def child_fds():
            # Move every source above 9 first, so no dup2 below overwrites one that is still needed.
            high = {target: os.dup(fd) if fd >= 10 else _dup_high(fd) for target, fd in wanted.items()}
            for target, fd in high.items():
                os.dup2(fd, target)

        self.p = subprocess.Popen(argv, preexec_fn=child_fds, close_fds=False, env=ENV)
        for fd in (control_r, request_r, reply_w, answer_r, answer_w):
            os.close(fd)
        hello = read_frame(self.r)
        assert hello.get("id") == 0, hello
        self.kernel_pid = hello["pid"]

    def cell(self, i, code):
        os.write(self.w, frame({"id": i, "op": "exec", "cell": i, "code": code, "max_output": 1 << 20, "max_image_side": 0}))
        return read_frame(self.r)

    def close(self):
        os.close(self.control_w)
        os.close(self.w)
        self.p.wait()
        os.close(self.r)


def memory(kernel, cells=1):
    """PSS, USS and RSS (kB) of the supervisor and the kernel, run without a jail, after `cells` `1+1` cells."""
    target = Kernel(False, kernel)
    try:
        for i in range(1, cells + 1):
            target.cell(i, "1+1")
        time.sleep(0.2)
        out = {}
        for role, pid in (("supervisor", target.p.pid), ("kernel", target.kernel_pid)):
            fields = {}
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 3 and parts[2] == "kB":
                        fields[parts[0].rstrip(":")] = int(parts[1])
            out[role] = {"pss_kb": fields["Pss"], "uss_kb": fields["Private_Clean"] + fields["Private_Dirty"], "rss_kb": fields["Rss"]}
        return out
    finally:
        target.close()


def _dup_high(fd):
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD, 10)


def round_trips(target, cells, pause):
    for i in range(1, 201):
        target.cell(i, "1+1")
    times, inside = [], []
    for i in range(201, 201 + cells):
        if pause:
            time.sleep(pause)
        t = time.perf_counter_ns()
        reply = target.cell(i, "1+1")
        times.append((time.perf_counter_ns() - t) / 1e6)
        assert reply.get("value") == "2", reply
        if "duration_ms" in reply:
            inside.append(reply["duration_ms"])
    return statistics.median(times), statistics.median(inside) if inside else None, times


def phases(cells, paused, pause):
    """The kernel's per-cell steps, each timed alone (median µs over `cells` runs), with the kernel's own imports."""
    import traceback  # noqa: F401 - the kernel imports it; so its sys.modules has it
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    code = "1+1"
    filename = "<cordon session=sprofile cell=1>"
    request_bytes = frame({"id": 1, "op": "exec", "cell": 1, "code": code, "max_output": 1 << 20, "max_image_side": 0})[4:]
    reply = {"stdout": "", "stderr": "", "truncated": False, "value": "2", "error": None, "duration_ms": 0.1,
             "reloaded": [], "outputs": [], "id": 1}
    seen = {}

    def stat_key(path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def workspace_file(module):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.startswith("/work/"):
            return None
        return path

    def remember_modules():
        for name, module in list(sys.modules.items()):
            if name in seen or name == "__main__":
                continue
            path = workspace_file(module)
            if path is not None:
                seen[name] = (path, stat_key(path))

    class Capture(io.TextIOBase):
        def __init__(self, limit):
            self.parts = []
            self.size = 0
            self.limit = limit
            self.truncated = False

    def parse_compile():
        tree = ast.parse(code, filename, "exec")
        tail = ast.Expression(tree.body.pop().value)
        return compile(tree, filename, "exec"), compile(tail, filename, "eval")

    body, tail = parse_compile()
    steps = {
        "json.loads(request)": lambda: json.loads(request_bytes),
        "linecache entry": lambda: linecache.cache.__setitem__(filename, (len(code), None, code.splitlines(True), filename)),
        "drop_changed_modules, nothing seen": lambda: [n for n, _ in list(seen.items())],
        "two Capture objects": lambda: (Capture(1 << 20), Capture(1 << 20)),
        "swap sys.stdout/stderr and back": lambda: (setattr(sys, "stdout", sys.stdout), setattr(sys, "stderr", sys.stderr)),
        "ast.parse": lambda: ast.parse(code, filename, "exec"),
        "ast.parse + 2 x compile (the kernel's way)": parse_compile,
        "compile(code, 'eval') alone (the bare REPL's way)": lambda: compile(code, filename, "eval"),
        "exec(body) + eval(tail) + repr": lambda: (exec(body, namespace), repr(eval(tail, namespace))),
        f"remember_modules ({len(sys.modules)} modules)": remember_modules,
        "collect_figures (no pyplot)": lambda: sys.modules.get("matplotlib.pyplot"),
        "time.perf_counter x2": lambda: (time.perf_counter(), time.perf_counter()),
        "json.dumps(reply, ensure_ascii=False) + encode": lambda: json.dumps(reply, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    }
    out = {}
    for name, step in steps.items():
        for _ in range(100):
            step()
        figures = []
        for count, wait in ((cells, 0), (paused, pause)):
            samples = []
            for _ in range(count):
                if wait:
                    time.sleep(wait)
                t = time.perf_counter_ns()
                step()
                samples.append((time.perf_counter_ns() - t) / 1e3)
            figures.append(round(statistics.median(samples), 2))
        out[name] = {"back_to_back": figures[0], "after_pause": figures[1]}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=2000)
    ap.add_argument("--paused-cells", type=int, default=300, help="cells timed after a pause, so every process starts idle")
    ap.add_argument("--pause-ms", type=float, default=20)
    ap.add_argument("--kernel", default=KERNEL, help="the kernel file to measure (e.g. a variant with a proposed change)")
    ap.add_argument("--memory-only", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    results = {"kernel": args.kernel, "round_trip_ms": {}, "kernel_phases_us": {}}
    results["memory_kb"] = memory(args.kernel)
    print("memory without a jail after one cell, kB: " + "; ".join(
        f"{role} PSS {m['pss_kb']} USS {m['uss_kb']} RSS {m['rss_kb']}" for role, m in results["memory_kb"].items()))
    if args.memory_only:
        return
    results["start_to_hello_ms"] = {}
    for name, jailed in (("kernel", False), ("kernel+bwrap", True)):
        times = []
        for _ in range(15):
            t = time.perf_counter_ns()
            started = Kernel(jailed, args.kernel)
            times.append((time.perf_counter_ns() - t) / 1e6)
            started.close()
        results["start_to_hello_ms"][name] = round(statistics.median(times), 2)
    print("spawn to the kernel's hello, p50 ms: " + "; ".join(f"{k} {v}" for k, v in results["start_to_hello_ms"].items()))
    for name, make in (("repl", Repl), ("kernel", lambda: Kernel(False, args.kernel)), ("kernel+bwrap", lambda: Kernel(True, args.kernel))):
        target = make()
        try:
            p50, inside, _ = round_trips(target, args.cells, 0)
            idle50, idle_inside, _ = round_trips(target, args.paused_cells, args.pause_ms / 1000)
        finally:
            target.close()
        results["round_trip_ms"][name] = {
            "back_to_back_p50": round(p50, 4), "kernel_duration_ms_p50": None if inside is None else round(inside, 4),
            "after_pause_p50": round(idle50, 4), "after_pause_kernel_duration_ms_p50": None if idle_inside is None else round(idle_inside, 4)}
        print(f"{name:14} round trip p50: back to back {p50 * 1000:7.1f} µs" + ("" if inside is None else f" (kernel's duration_ms {inside * 1000:5.1f})")
              + f"; after {args.pause_ms:g} ms idle {idle50 * 1000:7.1f} µs" + ("" if idle_inside is None else f" (kernel's duration_ms {idle_inside * 1000:5.1f})"))
    results["kernel_phases_us"] = phases(args.cells, args.paused_cells // 3, args.pause_ms / 1000)
    print(f"kernel per-cell steps, median µs each: back to back / after {args.pause_ms:g} ms idle")
    for name, us in results["kernel_phases_us"].items():
        print(f"  {us['back_to_back']:8.2f} / {us['after_pause']:8.2f}  {name}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
