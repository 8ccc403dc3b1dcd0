# Cordon's Python launcher. It runs inside a jail, waits for its program on descriptor 3 (the main file's path
# and the arguments, NUL-separated), then runs it as `python3 MAIN ARGS...` would. A warm pool starts it before any
# request (so the interpreter is loaded while nobody waits); a cold run hands the program over at once. Both go
# through this same file, so a program sees the same process either way. It imports nothing beyond what the
# interpreter loads at start, so the program's sys.modules is the same too.
import sys


def _read_program():
    import os
    chunks = []
    while True:
        chunk = os.read(3, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(3)
    parts = b"".join(chunks).split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [os.fsdecode(p) for p in parts]


def _launch():
    import os
    argv = _read_program()
    path = os.path.abspath(argv[0])
    with open(path, "rb") as f:
        source = f.read()
    # A fresh __main__, shaped like the one `python3 path` makes.
    main = type(sys)("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__loader__ = type(__loader__)("__main__", path)
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    sys.argv = argv
    sys.path[0] = os.path.dirname(path)
    code = compile(source, path, "exec")
    try:
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as error:
        # Report it as the interpreter would, without this launcher's frames.
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        # The default hook prints the exception's own traceback, so trim that one too.
        error.__traceback__ = tb
        sys.excepthook(type(error), error, tb)
        sys.exit(1)


_launch()
