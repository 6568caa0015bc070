"""A real server (`linli serve`, two uvicorn workers) to kill in the middle of its work: the
group commit's crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

import linli
from linli.config import Settings

SOURCE = Path(linli.__file__).resolve().parent.parent


def serve(settings: Settings, port: int, tmp: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update(
        {
            "PYTHONPATH": str(SOURCE),
            "LINLI_DATABASE_URL": settings.database_url,
            "LINLI_VAR_DIR": str(tmp / "var"),
            "LINLI_SECRET_KEY": settings.resolved_secret_key(),
            "LINLI_RUN_DISPATCHER": "false",
            "LINLI_DEFAULT_LOCALE": "en",
            "LINLI_ACCESS_LOG": "false",
        }
    )
    command = [sys.executable, "-c", "from linli.cli import app; app(prog_name='linli')"]
    served = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    with (tmp / "server.log").open("ab") as log:
        process = subprocess.Popen(
            [*command, *served],
            env=env,
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches every worker
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp / "server.log").read_text()[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not start")


def kill(process: subprocess.Popen[bytes], how: signal.Signals) -> None:
    if process.poll() is None:
        os.killpg(process.pid, how)
    process.wait(timeout=30)
