"""A small token issuer for distribution's `auth: token`, as ghcr.io and Docker Hub run one.

GET /token?service=...&scope=repository:NAME:pull,push&scope=...  (Basic auth optional)
  - right password: every requested action is granted;
  - no credentials: `pull` only (anonymous);
  - wrong password: 401, as the spec says.
Accounts named `expiring-*` (same password) get an already-expired token the first time they
ask, so a client's re-authentication after a 401 from an expired token is tested for real.
Tokens are RS256 JWTs signed with `openssl dgst` (no Python packages needed), with the signing
certificate in the `x5c` header; the registry trusts it through `rootcertbundle`.
"""

import base64
import json
import os
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ADDR = os.environ["TOKEN_ISSUER_ADDR"]
KEY = os.environ["TOKEN_ISSUER_KEY"]
CERT = os.environ["TOKEN_ISSUER_CERT"]
USER = os.environ["TOKEN_ISSUER_USER"]
PASSWORD = os.environ["TOKEN_ISSUER_PASSWORD"]
TTL = int(os.environ.get("TOKEN_ISSUER_TTL", "300"))
ISSUER = "tagship-test-issuer"

seen_accounts = set()
lock = threading.Lock()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der() -> bytes:
    with open(CERT) as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


X5C = base64.b64encode(cert_der()).decode()


def sign(signing_input: bytes) -> bytes:
    return subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", KEY], input=signing_input, capture_output=True, check=True
    ).stdout


def parse_scope(scope: str):
    # repository:NAME:ACTIONS, where NAME may contain ':' only for ports in other resource types.
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


def token(account: str, access, expired: bool) -> str:
    now = int(time.time())
    exp = now - 600 if expired else now + TTL
    header = {"typ": "JWT", "alg": "RS256", "x5c": [X5C]}
    claims = {
        "iss": ISSUER,
        "sub": account,
        "aud": "tagship-test-registry",
        "exp": exp,
        "nbf": now - 600 if expired else now - 5,
        "iat": now - 600 if expired else now,
        "jti": uuid.uuid4().hex,
        "access": access,
    }
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="tagship-test-issuer"')
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/health":
            return self.reply(200, {"ok": True})
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
        query = parse_qs(url.query)
        account = None
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return self.reply(400, {"errors": [{"code": "BAD_REQUEST", "message": "malformed basic auth"}]})
            if password != PASSWORD or not (user == USER or user.startswith("expiring-")):
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication failed"}]})
            account = user
        access = []
        for scope in query.get("scope", []):
            for part in scope.split(" "):
                item = parse_scope(part)
                if account is None:
                    item["actions"] = [a for a in item["actions"] if a == "pull"]
                access.append(item)
        expired = False
        if account and account.startswith("expiring-"):
            with lock:
                expired = account not in seen_accounts
                seen_accounts.add(account)
        issued = token(account or "", access, expired)
        self.reply(200, {"token": issued, "access_token": issued, "expires_in": TTL,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


if __name__ == "__main__":
    host, port = ADDR.rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
