# Cordon's Python session kernel. It runs inside a session's jail for the session's whole life.
#
# This file starts as a small supervisor (`session_kernel.py SESSION LANGUAGES`, LANGUAGES e.g. "python,javascript"),
# which starts one kernel per language and keeps the session's pipes:
#   fd 0 (stdin)  host -> supervisor: control lines ("int LANG", "restart LANG NONCE", "rm PATH", "mkdir PATH",
#                 JSON-quoted paths; "cmd JSON", "cmdget ID", "cmdsig ID SIGNUM" for shell commands)
#   fd 3          host -> Python kernel: requests, each a 4-byte big-endian length and UTF-8 JSON
#   fd 4          Python kernel -> host: replies, framed the same way, one per request (and a hello per kernel start);
#                 a streamed cell also sends {"id", "stream": "stdout"|"stderr", "text"} frames before its reply
#   fd 5          supervisor -> host: one line per control line ("ok", "ok JSON" for commands, or "error MESSAGE")
#   fd 6, 7       host <-> JavaScript kernel (kernels/javascript/session_kernel.js), as fd 3 and 4 are for Python;
#                 the node process gets them as its own fd 3 and 4
# The supervisor stays responsive while a cell runs, so the host can interrupt or replace a kernel that is stuck
# without losing the jail (and with it the workspace). Before a new kernel starts, the supervisor writes the host's
# nonce on fd 4: whatever the dead kernel left half-written there, the host skips up to the nonce. A kernel that
# dies on its own (os._exit, process.exit, a crash, the memory limit) is reported at once on its reply descriptor as
# {"id": -1, "died": {"exit_code", "signal"}}; the host then asks for a restart.
# Shell commands are the supervisor's children, not the kernel's: they outlive a kernel restart, and a cell that
# hangs never delays a command's report.
import os
import signal
import sys

WORK = "/work"
# Each kernel's request and reply descriptors, as the supervisor has them.
PIPES = {"python": (3, 4), "javascript": (6, 7)}
NODE_KERNEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "javascript", "session_kernel.js")


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ---------------------------------------------------------------------------------------------------- kernel

def _kernel(session_id, generation):
    # Imported here, after the fork: the supervisor stays small, and everything below is the kernel's own.
    import ast
    import builtins
    import importlib
    import io
    import json
    import linecache
    import time
    import traceback

    os.setsid()  # its own process group, so a restart takes the cell's children down with it
    # The supervisor's child watch is not the kernel's: a cell's subprocess must not wake the supervisor.
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd in (5, 6, 7):  # the supervisor's and the other kernel's ends are not the cell's to touch
        try:
            os.close(fd)
        except OSError:
            pass
    # Cell code must not hand the protocol pipes to programs it starts.
    os.set_inheritable(3, False)
    os.set_inheritable(4, False)
    sys.dont_write_bytecode = True  # a .pyc keyed on whole-second mtimes could hide a quick edit
    sys.path[0] = WORK
    sys.argv = [""]

    main = type(sys)("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    namespace = main.__dict__

    # The interrupt only counts while a cell runs; one that arrives late (the cell had just finished) is dropped.
    running = [False]

    def on_sigint(signum, frame):
        if running[0]:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)

    # Workspace modules seen so far: name -> (file, stat key) taken at the end of the cell that imported them.
    seen = {}

    def stat_key(path):
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def workspace_file(module):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.startswith(WORK + "/"):
            return None
        return path

    def remember_modules():
        for name, module in list(sys.modules.items()):
            if name in seen or name == "__main__":
                continue
            path = workspace_file(module)
            if path is not None:
                seen[name] = (path, stat_key(path))

    def drop_changed_modules():
        stale = []
        for name, (path, key) in list(seen.items()):
            module = sys.modules.get(name)
            if module is None or workspace_file(module) != path:
                del seen[name]  # the cell removed or replaced it itself
                continue
            if stat_key(path) != key:
                stale.append(name)
        if not stale:
            return []
        # Children before parents, and only the changed ones: the rest of the interpreter stays as it is.
        stale.sort(key=lambda n: (-n.count("."), n))
        for name in stale:
            module = sys.modules.pop(name, None)
            del seen[name]
            parent, _, child = name.rpartition(".")
            # `from pkg import sub` takes the parent's attribute when there is one: drop that link too.
            if parent and parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
                try:
                    delattr(sys.modules[parent], child)
                except AttributeError:
                    pass
        importlib.invalidate_caches()
        return stale

    send_lock = [None]  # a threading.Lock once a streamed cell's timer may send alongside the main thread

    class Streamer:
        """Sends a streamed cell's output as it is written, coalesced: a line goes out at once unless output went out
        in the last 50 ms; anything else 50 ms after it was written (a timer thread, so a cell that sleeps does not
        hold it back)."""

        EVERY = 0.05

        def __init__(self, request_id):
            import threading
            self.id = request_id
            self.pending = []
            self.last = 0.0
            self.timer = None
            self.threading = threading
            self.lock = threading.RLock()
            send_lock[0] = self.lock

        def flush_if_due(self):
            # An explicit flush (print(..., flush=True)) sends at once, within the same 50 ms pace.
            with self.lock:
                if self.pending and time.monotonic() - self.last >= self.EVERY:
                    self.flush()

        def push(self, stream, text):
            with self.lock:
                if self.pending and self.pending[-1][0] == stream:
                    self.pending[-1][1] += text
                else:
                    self.pending.append([stream, text])
                now = time.monotonic()
                if "\n" in text and now - self.last >= self.EVERY:
                    self.flush()
                elif self.timer is None:
                    self.timer = self.threading.Timer(self.EVERY, self.flush)
                    self.timer.daemon = True
                    self.timer.start()

        def flush(self):
            with self.lock:
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None
                self.last = time.monotonic()
                pending, self.pending = self.pending, []
                for stream, text in pending:
                    send({"id": self.id, "stream": stream, "text": text})

    class Capture(io.TextIOBase):
        def __init__(self, limit, name="", streamer=None):
            self.parts = []
            self.size = 0
            self.limit = limit
            self.truncated = False
            self.name = name
            self.streamer = streamer

        def writable(self):
            return True

        def write(self, text):
            if not isinstance(text, str):
                raise TypeError("write() argument must be str, not " + type(text).__name__)
            room = self.limit - self.size
            if len(text) > room:
                self.truncated = True
                text = text[:max(room, 0)]
            self.parts.append(text)
            self.size += len(text)
            if self.streamer is not None and text:
                self.streamer.push(self.name, text)
            return len(text)

        def flush(self):
            if self.streamer is not None:
                self.streamer.flush_if_due()

        @property
        def encoding(self):
            return "utf-8"

        def value(self):
            return "".join(self.parts)

    def format_error(error, filename):
        tb = error.__traceback__
        # The kernel's own frames are not the user's business: start at the cell.
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        lines = traceback.format_exception(type(error), error, tb)
        return {"type": type(error).__name__, "message": str(error), "traceback": "".join(lines)}

    def collect_figures(err, max_side):
        # Only when a cell brought pyplot in: importing matplotlib costs far more than a whole `1+1` cell.
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return []
        import base64
        outputs = []
        try:
            for number in pyplot.get_fignums():
                buffer = io.BytesIO()
                figure = pyplot.figure(number)
                dpi = figure.dpi
                if max_side > 0:
                    # bbox_inches is left alone, so the image is exactly the figure's size times the resolution.
                    dpi = min(dpi, max_side / max(figure.get_size_inches()))
                figure.savefig(buffer, format="png", dpi=dpi)
                outputs.append({"mime": "image/png", "data": base64.b64encode(buffer.getvalue()).decode("ascii")})
        except Exception as e:  # a figure that cannot be drawn is the cell's problem, reported like its output
            err.write("Cordon: a figure could not be rendered: %s: %s\n" % (type(e).__name__, e))
        finally:
            pyplot.close("all")
        return outputs

    def run_cell(request):
        cell = request["cell"]
        code = request["code"]
        limit = request.get("max_output", 1 << 20)
        filename = "<cordon session=%s cell=%d>" % (session_id, cell)
        # Tracebacks show the cell's own lines.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        reloaded = drop_changed_modules()
        streamer = Streamer(request["id"]) if request.get("stream") else None
        out, err = Capture(limit, "stdout", streamer), Capture(limit, "stderr", streamer)
        saved = sys.stdout, sys.stderr
        value = None
        error = None
        started = time.perf_counter()
        try:
            sys.stdout, sys.stderr = out, err
            try:
                tree = ast.parse(code, filename, "exec")
                tail = None
                if tree.body and isinstance(tree.body[-1], ast.Expr):
                    tail = ast.Expression(tree.body.pop().value)
                body = compile(tree, filename, "exec")
                tail_code = compile(tail, filename, "eval") if tail is not None else None
                running[0] = True
                try:
                    exec(body, namespace)
                    if tail_code is not None:
                        result = eval(tail_code, namespace)
                        if result is not None:
                            builtins._ = result
                            value = repr(result)
                finally:
                    running[0] = False
            except BaseException as e:  # noqa: B902 - a cell's SystemExit or KeyboardInterrupt is its result too
                error = format_error(e, filename)
        finally:
            sys.stdout, sys.stderr = saved
            remember_modules()
        outputs = collect_figures(err, request.get("max_image_side", 0))
        if streamer is not None:
            streamer.flush()
        return {
            "stdout": out.value(),
            "stderr": err.value(),
            "truncated": out.truncated or err.truncated,
            "value": value,
            "error": error,
            "duration_ms": (time.perf_counter() - started) * 1000.0,
            "reloaded": reloaded,
            "outputs": outputs,
        }

    def read_exact(n):
        chunks = []
        while n:
            chunk = os.read(3, n)
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def send(obj):
        body = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
        lock = send_lock[0]
        if lock is None:
            _write_all(4, len(body).to_bytes(4, "big") + body)
        else:
            with lock:
                _write_all(4, len(body).to_bytes(4, "big") + body)

    send({"id": 0, "hello": generation, "pid": os.getpid()})
    while True:
        header = read_exact(4)
        if header is None:
            os._exit(0)
        request = json.loads(read_exact(int.from_bytes(header, "big")))
        op = request.get("op")
        if op == "exec":
            reply = run_cell(request)
        else:
            reply = {}
        reply["id"] = request["id"]
        send(reply)


# ---------------------------------------------------------------------------------------------------- supervisor

def _node_kernel(session_id, generation):
    os.setsid()  # its own process group, so a restart takes the cell's children down with it
    signal.set_wakeup_fd(-1)
    for number in (signal.SIGCHLD, signal.SIGINT):
        signal.signal(number, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # The JavaScript pipes become node's 3 and 4; nothing else of the session's is left open in it.
    os.dup2(6, 3)
    os.dup2(7, 4)
    for fd in (5, 6, 7):
        os.close(fd)
    os.execvp("node", ["node", NODE_KERNEL, session_id, str(generation)])


def _supervise(session_id, languages):
    generations = {}

    def start(language):
        generations[language] = generations.get(language, 0) + 1
        pid = os.fork()
        if pid == 0:
            try:
                if language == "javascript":
                    _node_kernel(session_id, generations[language])
                else:
                    _kernel(session_id, generations[language])
            finally:
                os._exit(1)
        return pid

    def stop(pid):
        if pid is None:
            return  # it died on its own and was reaped
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def workspace_path(raw):
        import json
        path = json.loads(raw)
        if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
            raise ValueError("invalid path")
        return os.path.join(WORK, path)

    commands = Commands()
    # SIGCHLD wakes the loop below through this pipe, so a finished command is reaped at once without polling.
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernels = {language: start(language) for language in languages}

    def drain_requests(language):
        # Requests the old kernel never read must not run in the new one.
        fd = PIPES[language][0]
        os.set_blocking(fd, False)
        try:
            while os.read(fd, 65536):
                pass
        except BlockingIOError:
            pass
        finally:
            os.set_blocking(fd, True)

    def reap_kernels():
        for language, pid in kernels.items():
            if pid is None:
                continue
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done != pid:
                continue
            kernels[language] = None
            try:
                os.killpg(pid, signal.SIGKILL)  # what the cell started dies with its kernel
            except OSError:
                pass
            import json
            died = {"exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                    "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None}
            body = json.dumps({"id": -1, "died": died}).encode("ascii")
            _write_all(PIPES[language][1], len(body).to_bytes(4, "big") + body)

    def kernel_of(argument):
        # "LANG REST"; a bare argument (or none) is Python's, as before there were several kernels.
        language, _, rest = argument.partition(" ")
        if language not in PIPES:
            return "python", argument
        if language not in kernels:
            raise ValueError("no %s kernel in this session" % language)
        return language, rest
    buffer = b""
    import select
    while True:
        readable, _, _ = select.select([0, wake_read] + commands.pipes(), [], [], commands.wait_time())
        if wake_read in readable:
            try:
                while os.read(wake_read, 512):
                    pass
            except BlockingIOError:
                pass
            reap_kernels()
        commands.pump([fd for fd in readable if fd not in (0, wake_read)])
        if 0 not in readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            break  # the host is gone: so is the session
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            command, _, argument = line.decode("utf-8", "replace").partition(" ")
            answer = "ok"
            try:
                if command == "int":
                    language, _ = kernel_of(argument)
                    if kernels[language] is not None:
                        os.kill(kernels[language], signal.SIGINT)
                elif command == "restart":
                    language, nonce = kernel_of(argument)
                    stop(kernels[language])
                    drain_requests(language)
                    _write_all(PIPES[language][1], nonce.encode("ascii"))
                    kernels[language] = start(language)
                elif command == "rm":
                    path = workspace_path(argument)
                    if os.path.isdir(path) and not os.path.islink(path):
                        os.rmdir(path)
                    else:
                        os.unlink(path)
                elif command == "mkdir":
                    os.makedirs(workspace_path(argument), exist_ok=True)
                elif command == "cmd":
                    answer = "ok " + commands.start(argument)
                elif command == "cmdget":
                    answer = "ok " + commands.report(argument)
                elif command == "cmdsig":
                    name, _, number = argument.partition(" ")
                    answer = "ok " + commands.signal(name, int(number))
                else:
                    answer = "error unknown command"
            except (OSError, ValueError, KeyError) as e:
                if isinstance(e, KeyError):
                    answer = "error no such command"
                else:
                    answer = "error " + (e.strerror if isinstance(e, OSError) and e.strerror else str(e))
            _write_all(5, (answer.replace("\n", " ") + "\n").encode("utf-8"))
    commands.kill_all()
    for pid in kernels.values():
        stop(pid)


class Commands:
    """The session's shell commands: each `/bin/sh -c` in its own process group, its output kept up to a cap."""

    KEEP_FINISHED = 64  # finished commands remembered for later reads; the oldest are forgotten first

    def __init__(self):
        self.items = {}  # id -> Command, in start order
        self.by_fd = {}
        self.next_id = 0

    def pipes(self):
        return list(self.by_fd)

    def wait_time(self):
        import time
        deadlines = [c.deadline for c in self.items.values() if c.running and c.deadline is not None]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def start(self, raw):
        import json
        import subprocess
        import time
        request = json.loads(raw)
        command = request["command"]
        if not isinstance(command, str):
            raise ValueError("the command must be a string")
        timeout = request.get("timeout")
        self.next_id += 1
        # The user's own shell line, run by their shell inside their jail: an argument list for Cordon's part.
        process = subprocess.Popen(["/bin/sh", "-c", command], cwd=WORK, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, close_fds=True)
        entry = Command("c%d" % self.next_id, process, int(request.get("max_output", 1 << 20)),
                        None if timeout is None else time.monotonic() + float(timeout))
        for stream in (process.stdout, process.stderr):
            os.set_blocking(stream.fileno(), False)
            self.by_fd[stream.fileno()] = (entry, stream)
        self.items[entry.id] = entry
        self.forget_old()
        return json.dumps({"id": entry.id})

    def pump(self, fds):
        import time
        for fd in fds:
            if fd in self.by_fd:
                self.read(fd)
        now = time.monotonic()
        for entry in self.items.values():
            if not entry.running:
                continue
            if entry.deadline is not None and now >= entry.deadline:
                entry.timed_out = True
                entry.deadline = None  # killed once; SIGCHLD reports the end
                entry.kill_group(signal.SIGKILL)
            if entry.process.poll() is not None:
                self.finish(entry)

    def read(self, fd):
        entry, stream = self.by_fd[fd]
        target = entry.stdout if stream is entry.process.stdout else entry.stderr
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                del self.by_fd[fd]
                stream.close()
                return
            room = entry.limit - len(target)
            if len(chunk) > room:
                entry.truncated = True
                chunk = chunk[:max(room, 0)]
            target += chunk

    def finish(self, entry):
        import time
        entry.running = False
        entry.ended = time.monotonic()
        # What the shell wrote before it ended is in the pipes now; a background child still holding them is cut off.
        for stream in (entry.process.stdout, entry.process.stderr):
            fd = stream.fileno() if not stream.closed else -1
            if fd in self.by_fd:
                self.read(fd)
                if fd in self.by_fd:
                    del self.by_fd[fd]
                    stream.close()
        # Its own process group dies with it: nothing it started in the background lingers unseen.
        entry.kill_group(signal.SIGKILL)

    def report(self, command_id):
        import json
        entry = self.items[command_id]
        if entry.running and entry.process.poll() is not None:
            self.finish(entry)
        code = entry.process.returncode
        return json.dumps({
            "id": entry.id,
            "running": entry.running,
            "exit_code": code if code is not None and code >= 0 else None,
            "signal": -code if code is not None and code < 0 else None,
            "timed_out": entry.timed_out,
            "truncated": entry.truncated,
            "stdout": entry.stdout.decode("utf-8", "replace"),
            "stderr": entry.stderr.decode("utf-8", "replace"),
            "duration_ms": ((entry.ended if entry.ended is not None else __import__("time").monotonic()) - entry.started) * 1000.0,
        })

    def signal(self, command_id, number):
        entry = self.items[command_id]
        if entry.running:
            entry.kill_group(number)
        return self.report(command_id)

    def forget_old(self):
        finished = [k for k, c in self.items.items() if not c.running]
        for key in finished[:max(0, len(finished) - self.KEEP_FINISHED)]:
            del self.items[key]

    def kill_all(self):
        for entry in self.items.values():
            if entry.running:
                entry.kill_group(signal.SIGKILL)


class Command:
    def __init__(self, command_id, process, limit, deadline):
        import time
        self.id = command_id
        self.process = process
        self.limit = limit
        self.deadline = deadline
        self.started = time.monotonic()
        self.ended = None
        self.running = True
        self.timed_out = False
        self.truncated = False
        self.stdout = bytearray()
        self.stderr = bytearray()

    def kill_group(self, number):
        try:
            os.killpg(self.process.pid, number)
        except OSError:
            pass


if __name__ == "__main__":
    _supervise(sys.argv[1] if len(sys.argv) > 1 else "?",
               [name for name in (sys.argv[2] if len(sys.argv) > 2 else "python").split(",") if name in PIPES])
