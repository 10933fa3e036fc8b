"""What the HTTP benches share: our server started as ./run.sh starts it, wrk as the load, RSS of workers.

Everything binds to 127.0.0.1 on free ports and lives in a temporary folder; `Stack.stop()` ends what it
started (by process id).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.process import embedded  # noqa: E402

ADMIN_KEY = "BENCHADMINKEY0000001"
ADMIN_SECRET = "bench-admin-secret-" + "x" * 24
WRK_THREADS, WRK_CONNECTIONS = 2, 8


def basic_header(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def post_json(url: str, body: dict, headers: dict, timeout: float = 30) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@dataclass
class Stack:
    """`python -m server serve` with its own data folder, ports and admin key pair."""

    folder: Path
    process: subprocess.Popen
    url: str
    mongo_uri: str
    company: str

    @property
    def basic(self) -> str:
        return basic_header(ADMIN_KEY, ADMIN_SECRET)

    def token(self) -> str:
        request = urllib.request.Request(self.url + "/auth.login", headers={"Authorization": self.basic})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["data"]["token"]

    def gunicorn_workers(self) -> list[int]:
        masters = [p for p in children(self.process.pid) if "gunicorn" in cmdline(p)]
        return [w for m in masters for w in children(m)]

    def database_pids(self) -> list[int]:
        """The embedded database server (a child of the launcher)."""
        return [p for p in children(self.process.pid) if "secantus" in cmdline(p)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_modelreg(folder: Path, extra_env: dict | None = None) -> Stack:
    port, mongo_port, s3_port = embedded.free_port(), embedded.free_port(), embedded.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(MODELREG_DATA_DIR=str(folder / "data"), MODELREG_PORT=str(port),
               MODELREG_MONGO_EMBEDDED_PORT=str(mongo_port), MODELREG_S3_EMBEDDED_PORT=str(s3_port),
               MODELREG_ADMIN_KEY=ADMIN_KEY, MODELREG_ADMIN_SECRET=ADMIN_SECRET, **(extra_env or {}))
    log = open(folder / "serve.log", "w")  # noqa: SIM115 (the child writes to it until it stops)
    process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    wait_for(url + "/debug.ping", 180, process)
    from server.config import load_config

    company = load_config(env={}).get("auth.default_company")
    return Stack(folder, process, url, f"mongodb://127.0.0.1:{mongo_port}/", company)


# ---- processes ---------------------------------------------------------------------------------------------------

def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_mb(pid: int) -> float:
    try:
        for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes (all their threads) have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_line(pids: list[int]) -> str:
    return ", ".join(f"{rss_mb(p):.1f}" for p in sorted(pids)) + " MB"


# ---- wrk ---------------------------------------------------------------------------------------------------------

def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("bench: installing wrk (Debian package)", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("bench: wrk is missing and cannot be installed here (apt-get install wrk)")
    return found


def lua_script(folder: Path, name: str, path: str | list[str], bodies: list[str] | None, headers: dict,
               method: str = "POST", delay_ms: float = 0) -> Path:
    """A wrk script sending a random one of the requests: `path` (one, or one per body) with the body of the
    same index. They go one per line to a side file: a Lua table constructor of thousands of strings is too
    much for wrk's LuaJIT. `delay_ms`: each connection waits that long after an answer before its next
    request (a paced load instead of a saturating one)."""
    paths = path if isinstance(path, list) else [path] * len(bodies or [None])
    lines = [p + "\t" + (b or "") for p, b in zip(paths, bodies or [""] * len(paths), strict=True)]
    side = folder / f"{name}.requests"
    side.write_text("\n".join(lines) + "\n")
    header_lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    script = folder / f"{name}.lua"
    script.write_text(f"""
local requests = {{}}
for line in io.lines({json.dumps(str(side))}) do
  local tab = line:find("\\t", 1, true)
  local body = line:sub(tab + 1)
  requests[#requests + 1] = {{line:sub(1, tab - 1), body ~= "" and body or nil}}
end
wrk.method = "{method}"
{header_lines}
request = function()
  local r = requests[math.random(#requests)]
  return wrk.format(nil, r[1], nil, r[2])
end
""" + (f"delay = function() return {delay_ms:g} end\n" if delay_ms else ""))
    return script


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, script: Path, seconds: float) -> dict:
    """requests/s, p50 and p99 in ms, and the count of non-2xx answers and socket errors."""
    argv = [ensure_wrk(), "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", f"{max(1, round(seconds))}s",
            "--latency", "-s", str(script), url]  # wrk takes whole seconds only
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    text = result.stdout

    def latency(percent: str) -> float:
        found = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50": latency("50"), "p99": latency("99"),
            "bad": int(bad.group(1)) if bad else 0, "socket_errors": errors.group(0) if errors else ""}
