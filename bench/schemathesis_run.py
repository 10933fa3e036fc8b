"""Property-based run of schemathesis over the generated OpenAPI document, against a running server.

    .venv/bin/python bench/schemathesis_run.py                  # starts `python -m server serve` itself
    .venv/bin/python bench/schemathesis_run.py --url http://127.0.0.1:8008 --key KEY --secret SECRET

Without --url it starts the real launcher (embedded MongoDB and S3, gunicorn with 2 workers) on free
loopback ports with a temporary data folder and an admin key pair it makes up, and stops it at the
end. Every call is authenticated as that admin with a Basic auth header. The checks: no 5xx, every
reply matches the schema the document declares for its status, declared status codes and content
types. Prints one summary line (and each failure); exits 1 on any failure or error.

`auth.revoke_credentials` is left out: the fuzzer reads the admin's own access key from
`auth.get_credentials` replies and revokes it, which turns the rest of the run into 401s. Its
behaviour is covered by tests/identity/test_auth.py.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
EXCLUDED_PATHS = r"auth\.revoke_credentials$"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str, str, str]:
    port = free_port()
    key = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))
    secret = secrets.token_urlsafe(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(
        MODELREG_DATA_DIR=str(data_dir),
        MODELREG_PORT=str(port),
        MODELREG_MONGO_EMBEDDED_PORT=str(free_port()),
        MODELREG_S3_EMBEDDED_PORT=str(free_port()),
        MODELREG_ADMIN_KEY=key,
        MODELREG_ADMIN_SECRET=secret,
    )
    log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 - the server's log for its whole life
    process = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while not answers(url + "/debug.ping"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            sys.exit(f"the server did not start:\n{(data_dir / 'serve.log').read_text()[-3000:]}")
        time.sleep(0.5)
    return process, url, key, secret


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(90)
    except subprocess.TimeoutExpired:
        process.kill()


def run_schemathesis(url: str, key: str, secret: str, args, report_dir: Path) -> dict:
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json", "--url", url,
        "--auth", f"{key}:{secret}", "--checks", CHECKS, "--max-examples", str(args.max_examples),
        "--phases", args.phases, "--workers", str(args.workers), "--exclude-path-regex", EXCLUDED_PATHS,
        "--request-timeout", "60", "--report", "json", "--report-dir", str(report_dir), "--warnings", "off",
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    (report_dir / "schemathesis.log").write_text(output.stdout + output.stderr)
    reports = sorted(report_dir.glob("*.json"))
    if not reports:
        sys.exit(f"schemathesis wrote no report (exit {output.returncode}):\n{(output.stdout + output.stderr)[-3000:]}")
    report = json.loads(reports[-1].read_text())
    report["_output"] = output.stdout
    return report


def summarize(report: dict, url: str) -> str:
    operations, cases = report["operations"], report["test_cases"]
    return (
        f"schemathesis {report['schemathesis_version']} against {url}: {operations['tested']}/{operations['total']} "
        f"operations, {cases['generated']} generated calls, {cases['with_failures']} failing "
        f"({cases['unique_failures']} unique failures), {len(report['errors'])} errors, "
        f"{report['running_time']:.0f} s, seed {report['seed']}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", help="a running server; default: start one")
    parser.add_argument("--key", help="admin access key (with --url)")
    parser.add_argument("--secret", help="admin secret key (with --url)")
    parser.add_argument("--max-examples", type=int, default=25, help="test cases per operation and phase")
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--report-dir", type=Path, help="keep schemathesis' report and log here")
    args = parser.parse_args(argv)
    if args.url and not (args.key and args.secret):
        parser.error("--url needs --key and --secret")

    with tempfile.TemporaryDirectory(prefix="modelreg-schemathesis-") as tmp:
        report_dir = args.report_dir or Path(tmp) / "report"
        report_dir.mkdir(parents=True, exist_ok=True)
        process = None
        if args.url:
            url, key, secret = args.url.rstrip("/"), args.key, args.secret
        else:
            data_dir = Path(tmp) / "data"
            data_dir.mkdir()
            process, url, key, secret = start_server(data_dir)
        server_errors: list[str] = []
        try:
            report = run_schemathesis(url, key, secret, args, report_dir)
        finally:
            if process is not None:
                stop_server(process)
                server_errors = unhandled_errors(data_dir / "logs" / "gunicorn.log")
    print(summarize(report, url))
    for failure in report["failures"]:
        print("FAILURE", json.dumps(failure)[:2000])
    for error in report["errors"]:
        print("ERROR", json.dumps(error)[:2000])
    if server_errors:
        print("the server logged:\n  " + "\n  ".join(server_errors))
    if report["failures"] or report["errors"] or report["test_cases"]["with_failures"]:
        print(report["_output"][-20000:])
        return 1
    return 0


def unhandled_errors(log_path: Path) -> list[str]:
    """'endpoint: exception' for each call the dispatcher logged as an unhandled error."""
    if not log_path.exists():
        return []
    found, endpoint = [], None
    for line in log_path.read_text(errors="replace").splitlines():
        if "unhandled error in" in line:
            endpoint = line.rsplit("unhandled error in", 1)[1].strip()
        elif endpoint and line and not line.startswith((" ", "Traceback")):
            found.append(f"{endpoint}: {line.strip()[:300]}")
            endpoint = None
    return found


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
