# The bare comparison for a session cell's round trip: a python3 REPL on a pipe, no jail, no Cordon. It reads
# requests framed like the session kernel's (4-byte big-endian length, UTF-8 JSON {"id", "code"}) on stdin, runs the
# code in a persistent namespace (the trailing expression's repr is the value, as the REPL shows it) and answers
# {"id", "value", "error"} framed the same way on stdout. Used by bench/Cordon.Bench's sessions part.
import json
import os
import sys

namespace = {"__name__": "__main__"}


def read_exact(n):
    chunks = []
    while n:
        chunk = os.read(0, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def run(code):
    try:
        try:
            compiled = compile(code, "<cell>", "eval")
        except SyntaxError:
            exec(compile(code, "<cell>", "exec"), namespace)
            return None, None
        result = eval(compiled, namespace)
        return (None if result is None else repr(result)), None
    except Exception as e:  # a cell's failure is its answer
        return None, "%s: %s" % (type(e).__name__, e)


while True:
    header = read_exact(4)
    if header is None:
        sys.exit(0)
    request = json.loads(read_exact(int.from_bytes(header, "big")))
    value, error = run(request["code"])
    body = json.dumps({"id": request["id"], "value": value, "error": error}).encode("utf-8")
    os.write(1, len(body).to_bytes(4, "big") + body)
