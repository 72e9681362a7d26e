"""A small token issuer for distribution's `auth: token`, as Docker Hub and GitLab run one (ghcr.io
runs one too, but its tokens are opaque: they carry no `access` claim).

GET /token?service=...&scope=repository:NAME:pull,push&scope=...  (Basic auth optional)
  - right password: every requested action is granted;
  - no credentials: `pull` only (anonymous);
  - wrong password: 401, as the spec says.
  Accounts named `expiring-*` (same password) get an already-expired token the first time they
  ask, so a client's re-authentication after a 401 from an expired token is tested for real.
  Accounts named `readonly-*` (same password) get `pull` only, whatever they ask for: a token
  that may read and not push, as a GITHUB_TOKEN without `packages: write` is on ghcr.io (where
  only a push shows it: the preflight's tests use this JWT as a stand-in for a GitHub Packages
  registry that says so in the token).
  The reply has `expires_in` (TOKEN_ISSUER_TTL seconds).

GET /jwt/auth?service=container_registry&scope=...  as GitLab's JwtController answers it:
  - credentials are checked first: `gitlab-ci-token` with the job token (the same password) gets
    what it asks for, none gets `pull` only, anything else 401 with GitLab's body;
  - then a `service` other than `container_registry` is 404 with no body (`head :not_found`);
  - the reply is only `{"token": ...}`, no `expires_in`: the lifetime is in the JWT alone
    (`exp - iat` = TOKEN_ISSUER_GITLAB_TTL, default 3 s, so a test outlives several), with
    GitLab's claims (`iss` gitlab-issuer, `aud` container_registry, `nbf` 5 s before `iat`) and its
    header (the key's `kid`, no `x5c`).
  The issuer's clock runs TOKEN_ISSUER_GITLAB_SKEW seconds (default 60) behind: distribution
  accepts a token until 60 s past its `exp` (its leeway for clock skew), so with the skew the
  registry refuses a token as soon as its lifetime is over, and says so in its log ("token not to
  be used after"); a client that reads the lifetime as `exp - iat` is unaffected by the skew, as
  it must be with a real GitLab whose clock is off.

GET /stats: per path and account (the Basic user, "" for none), the requests seen and the tokens
issued, since the issuer started; tests read how many tokens a run needed.
GET /health: `version`, which scripts/registry checks to replace an older issuer still running.

Tokens are RS256 JWTs signed with `openssl dgst` (no Python packages needed), with the signing
certificate in the `x5c` header (`/token`) or its key's ID in `kid` (`/jwt/auth`); the registries
trust it through `rootcertbundle`.
"""

import base64
import hashlib
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
GITLAB_TTL = int(os.environ.get("TOKEN_ISSUER_GITLAB_TTL", "3"))
GITLAB_SKEW = int(os.environ.get("TOKEN_ISSUER_GITLAB_SKEW", "60"))
GITLAB_ISSUER = "gitlab-issuer"
GITLAB_SERVICE = "container_registry"
GITLAB_USER = "gitlab-ci-token"
# What /health reports; scripts/registry replaces a running issuer that reports a lower one or
# none (started from an older checkout). Raise it with every change a test relies on.
VERSION = 3

seen_accounts = set()
# (path, account) -> {"requests": n, "issued": n}
stats = {}
lock = threading.Lock()


def count(path: str, account: str, what: str):
    with lock:
        entry = stats.setdefault((path, account), {"requests": 0, "issued": 0})
        entry[what] += 1


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der() -> bytes:
    with open(CERT) as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
    return base64.b64decode("".join(body.split()))


X5C = base64.b64encode(cert_der()).decode()


def key_id() -> str:
    """The libtrust key ID that distribution matches a `kid` against (GitLab's tokens carry one):
    SHA-256 of the public key's DER, 240 bits of it in base32, in groups of four."""
    pem = subprocess.run(
        ["openssl", "x509", "-in", CERT, "-pubkey", "-noout"], capture_output=True, check=True, text=True
    ).stdout
    body = pem.split("-----BEGIN PUBLIC KEY-----")[1].split("-----END PUBLIC KEY-----")[0]
    digest = hashlib.sha256(base64.b64decode("".join(body.split()))).digest()[:30]
    encoded = base64.b32encode(digest).decode().rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


KID = key_id()


def sign(signing_input: bytes) -> bytes:
    return subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", KEY], input=signing_input, capture_output=True, check=True
    ).stdout


def parse_scope(scope: str):
    # repository:NAME:ACTIONS, where NAME may contain ':' only for ports in other resource types.
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


def jwt(header, claims) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    return signing_input.decode() + "." + b64url(sign(signing_input))


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
    return jwt(header, claims)


def gitlab_token(account: str, access) -> str:
    # GitLab: issued_at = Time.now, not_before = issued_at - 5 s, expire_time = issued_at + the
    # registry's token expiry, each `.to_i` (rounded down).
    issued_at = int(time.time()) - GITLAB_SKEW
    header = {"typ": "JWT", "alg": "RS256", "kid": KID}
    claims = {
        "jti": str(uuid.uuid4()),
        "aud": GITLAB_SERVICE,
        "sub": account,
        "iss": GITLAB_ISSUER,
        "iat": issued_at,
        "nbf": issued_at - 5,
        "exp": issued_at + GITLAB_TTL,
        "access": access,
    }
    return jwt(header, claims)


def requested_access(query, account):
    access = []
    for scope in query.get("scope", []):
        for part in scope.split(" "):
            item = parse_scope(part)
            if account is None or account.startswith("readonly-"):
                item["actions"] = [a for a in item["actions"] if a == "pull"]
            access.append(item)
    return access


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, challenge="tagship-test-issuer"):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", f'Basic realm="{challenge}"')
        self.end_headers()
        self.wfile.write(data)

    def basic_user(self):
        """(user, password) of a Basic `Authorization`, None without one; ValueError if malformed."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
        return user, password

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/health":
            return self.reply(200, {"ok": True, "version": VERSION})
        if url.path == "/stats":
            with lock:
                body = {
                    "ttl": {"/token": TTL, "/jwt/auth": GITLAB_TTL},
                    "skew": {"/jwt/auth": GITLAB_SKEW},
                    "requests": {},
                    "issued": {},
                }
                for (path, account), entry in stats.items():
                    for what in ("requests", "issued"):
                        body[what].setdefault(path, {})[account] = entry[what]
            return self.reply(200, body)
        if url.path == "/jwt/auth":
            return self.gitlab(url)
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]})
        query = parse_qs(url.query)
        account = None
        try:
            basic = self.basic_user()
        except ValueError:
            count(url.path, "", "requests")
            return self.reply(400, {"errors": [{"code": "BAD_REQUEST", "message": "malformed basic auth"}]})
        count(url.path, basic[0] if basic else "", "requests")
        if basic:
            user, password = basic
            if password != PASSWORD or not (user == USER or user.startswith(("expiring-", "readonly-"))):
                return self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "authentication failed"}]})
            account = user
        access = requested_access(query, account)
        expired = False
        if account and account.startswith("expiring-"):
            with lock:
                expired = account not in seen_accounts
                seen_accounts.add(account)
        issued = token(account or "", access, expired)
        count(url.path, account or "", "issued")
        self.reply(200, {"token": issued, "access_token": issued, "expires_in": TTL,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    def gitlab(self, url):
        """GitLab's /jwt/auth: authentication first (its before_action), then the service."""
        query = parse_qs(url.query)
        denied = {"errors": [{"code": "UNAUTHORIZED", "message": "HTTP Basic: Access denied"}]}
        try:
            basic = self.basic_user()
        except ValueError:
            count(url.path, "", "requests")
            return self.reply(401, denied, challenge="GitLab")
        account = basic[0] if basic else None
        count(url.path, account or "", "requests")
        if basic and basic != (GITLAB_USER, PASSWORD):
            return self.reply(401, denied, challenge="GitLab")
        if query.get("service") != [GITLAB_SERVICE]:
            return self.reply(404, None)
        issued = gitlab_token(account or "", requested_access(query, account))
        count(url.path, account or "", "issued")
        self.reply(200, {"token": issued})


if __name__ == "__main__":
    host, port = ADDR.rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()
