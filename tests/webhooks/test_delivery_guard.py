"""A delivery follows a redirect only through the outbound guard: from an allowed (public) address, a
307 to loopback, to a name resolving to loopback or to a private address reaches nothing. The sender
runs in a network namespace of its own whose loopback device also carries a public address, so the
first hop passes the guard (as in tests/security/test_outbound_fetch.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, socket, threading
from services.shared.outbound import OutboundPolicy
from services.webhooks import rules

listener = socket.create_server(("0.0.0.0", 0))
port = listener.getsockname()[1]
hits = []

def serve():
    while True:
        conn, _ = listener.accept()
        with conn:
            path = conn.recv(65536).split(b" ")[1].decode()
            hits.append(path)
            if path == "/in":
                conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            else:
                target = path.split("/", 2)[2].replace("PORT", str(port))
                head = f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n"
                conn.sendall(head.encode())

threading.Thread(target=serve, daemon=True).start()
policy = rules.policy(None, rules.WebhookSettings(attempt_timeout_sec=5))
result = {"public": rules.send(f"http://8.8.4.4:{port}/in", {"seq": 1}, "s" * 16, "d1", "model.created", policy)}
for name in ("http://127.0.0.1:PORT/in", "http://localhost:PORT/in", "http://10.0.0.1:PORT/in"):
    result[name] = rules.send(f"http://8.8.4.4:{port}/to/{name}", {"seq": 2}, "s" * 16, "d2", "model.created", policy)
result["hits"] = hits
print(json.dumps(result))
"""


def test_a_redirect_from_a_public_receiver_to_loopback_or_private_is_refused():
    assert shutil.which("unshare") and shutil.which("ip"), "needs `unshare -n` and `ip` (util-linux, iproute2)"
    setup = "ip link set lo up && ip addr add 8.8.4.4/32 dev lo && exec \"$0\" \"$@\""
    done = subprocess.run(["unshare", "-n", "sh", "-c", setup, sys.executable, "-c", SCRIPT], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result.pop("public") == {"ok": True, "status": 204, "error": None}
    hits = result.pop("hits")
    for target, outcome in result.items():
        assert outcome["ok"] is False and outcome["status"] is None, (target, outcome)
        assert "not allowed" in outcome["error"], (target, outcome)
    assert hits.count("/in") == 1  # only the public delivery reached the receiver's endpoint
