"""A smoke run's parts, each in a process forked from one that has imported them already.

Importing a bench script costs 1.5 to 3.5 s of CPU (the app's modules, SQLAlchemy, pydantic,
FastAPI), more than most parts' smoke work, and a smoke run starts eight of them. The forker
(``python bench/forker.py REPORT_FD SCRIPT...``, started by ``run.py --smoke`` through
:class:`Forker`) imports the scripts once, as modules, then forks one child per part asked
for. The child runs the script with its arguments as ``__main__`` (``runpy.run_path``, so the
script's ``main()`` and everything it starts, servers and process pools included, are what
``python bench/SCRIPT`` runs) in the environment asked for, its output in a file, and exits
the way an interpreter does (its exit handlers run, its threads are joined). A script that
fails to import here is still run: its child fails with the error.

Asked on stdin, one JSON line per part: ``{"id", "script", "args", "env", "log"}``; answered
on REPORT_FD, one JSON line when it ends: ``{"id", "status", "cpu"}`` (its exit status, and
the CPU seconds of the child and of the processes it waited for).
"""

from __future__ import annotations

import importlib
import json
import os
import runpy
import select
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent


class Forker:
    """``run.py``'s end: starts the forker, runs parts in it (from any thread), stops it."""

    def __init__(self, scripts: list[str]) -> None:
        read, write = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__)), str(write), *scripts],
            stdin=subprocess.PIPE,
            pass_fds=(write,),
        )
        os.close(write)
        self._reports: IO[bytes] = os.fdopen(read, "rb")
        self._lock = threading.Lock()
        self._asked = 0
        self._waiting: dict[int, Future[tuple[int, float]]] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def run(
        self, script: str, args: list[str], env: dict[str, str], log: Path
    ) -> tuple[int, float]:
        """Run ``script`` with ``args`` in a forked child, its output into ``log``; its exit
        status and CPU seconds once it ends."""
        answer: Future[tuple[int, float]] = Future()
        assert self._process.stdin is not None
        with self._lock:
            self._asked += 1
            self._waiting[self._asked] = answer
            request = {"id": self._asked, "script": script, "args": args, "env": env}
            line = json.dumps(request | {"log": str(log)}) + "\n"
            self._process.stdin.write(line.encode())
            self._process.stdin.flush()
        return answer.result()

    def _read(self) -> None:
        for line in self._reports:
            report = json.loads(line)
            with self._lock:
                answer = self._waiting.pop(report["id"])
            answer.set_result((report["status"], report["cpu"]))
        with self._lock:
            for answer in self._waiting.values():
                answer.set_exception(RuntimeError("the forker ended"))
            self._waiting.clear()

    def close(self) -> None:
        """No more parts: the forker ends once those running have."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait()
        self._reader.join()
        self._reports.close()

    def __enter__(self) -> Forker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- The forker itself -------------------------------------------------------------------


def _preload(scripts: list[str]) -> None:
    sys.path[:0] = [str(BENCH), str(BENCH.parent)]
    os.environ.setdefault("CARTERA_ENV", "development")  # what common.py sets, first
    for script in scripts:
        try:
            importlib.import_module(Path(script).stem)
        except Exception as error:  # its part runs it again, and fails with the error
            print(f"forker: {script} does not import: {error!r}", file=sys.stderr, flush=True)
    if threading.active_count() > 1:  # a fork copies one thread only
        print("forker: importing the scripts started threads", file=sys.stderr, flush=True)


def serve(report_fd: int) -> dict[str, Any] | None:
    """Fork a child per request until stdin ends and every child has; the request in the
    child (which returns from here to run it), None in the forker."""
    pending = b""
    children: dict[int, int] = {}
    asking = True
    while asking or children:
        if not asking:
            time.sleep(0.05)
        elif select.select([0], [], [], 0.05)[0]:
            chunk = os.read(0, 1 << 16)
            asking = bool(chunk)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    os.close(report_fd)
                    return dict(request)
                children[pid] = request["id"]
        while children:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
            if pid == 0:
                break
            report = {
                "id": children.pop(pid),
                "status": os.waitstatus_to_exitcode(status),
                "cpu": round(usage.ru_utime + usage.ru_stime, 2),
            }
            os.write(report_fd, (json.dumps(report) + "\n").encode())
    return None


def run_part(request: dict[str, Any]) -> None:
    """In the child: the script as ``python SCRIPT ARGS`` would run it."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.close(nothing)
    os.environ.clear()
    os.environ.update(request["env"])
    config = sys.modules.get("app.config")
    if config is not None:
        config.get_settings.cache_clear()  # read again, from this environment
    sys.argv = [request["script"], *request["args"]]
    runpy.run_path(request["script"], run_name="__main__")


if __name__ == "__main__":
    report_fd, *preloaded = sys.argv[1:]
    _preload(preloaded)
    asked = serve(int(report_fd))
    if asked is not None:
        run_part(asked)
