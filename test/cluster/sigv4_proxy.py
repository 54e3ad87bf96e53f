"""A SigV4-checking proxy in front of the test cluster's Prometheus, standing in for Amazon Managed
Service for Prometheus (AMP).

Every request to a Prometheus path must carry an AWS Signature Version 4 that this proxy recomputes
with botocore's signer (an implementation independent of the AWS SDK for JavaScript that kanaria
signs with) from the same secret. A missing or malformed Authorization header, a date more than
5 minutes off, an unknown access key, a wrong or expired session token, a payload hash that does not
match the body, or any difference in the signature is answered 403 with AMP's own wording. Signed
requests are forwarded to Prometheus unchanged.

Credentials it knows:
  * minted by tests: POST /_proxy/credentials {"ttlSeconds": N} (N may be negative: already expired)
  * EKS Pod Identity: POST /_proxy/pod-identity {"ttlSeconds": N} gives a token and the URL of a
    container credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI) that mints fresh
    credentials of that lifetime on every call, as the EKS Pod Identity Agent does;
  * issued by moto's STS (AssumeRoleWithWebIdentity, AssumeRole), looked up in moto's state.
GET /_proxy/log lists every checked request (access key, source, verdict); nothing secret.

Run with the Python of the moto virtualenv (botocore comes with moto):
  python sigv4_proxy.py --port N --upstream http://127.0.0.1:PROM --moto http://127.0.0.1:MOTO
"""

import argparse
import base64
import datetime
import hashlib
import http.client
import json
import secrets
import string
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
MAX_SKEW = datetime.timedelta(minutes=5)
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)

lock = threading.Lock()
known = {}  # access key id -> {"secret", "token", "expires" (datetime or None), "source"}
pod_tokens = {}  # pod identity token -> {"ttl", "fetches", "name"}
log = []


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def mint(ttl_seconds, source):
    key = "ASIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    entry = {
        # Shaped like AWS's: a 40-character base64 secret, a base64 session token.
        "secret": base64.b64encode(secrets.token_bytes(30)).decode(),
        "token": "FQoGZXIvYXdz" + base64.b64encode(secrets.token_bytes(90)).decode(),
        "expires": now() + datetime.timedelta(seconds=ttl_seconds),
        "source": source,
    }
    with lock:
        known[key] = entry
    return {
        "AccessKeyId": key,
        "SecretAccessKey": entry["secret"],
        "Token": entry["token"],
        "Expiration": entry["expires"].strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def moto_credentials(moto_url, access_key):
    """The secret of a key moto's STS issued (moto keeps them in its state, shown by /moto-api)."""
    if not moto_url:
        return None
    parts = urllib.parse.urlsplit(moto_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", "/moto-api/data.json")
        data = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    for role in data.get("sts", {}).get("AssumedRole", []):
        if role.get("access_key_id") == access_key:
            return {
                "secret": role["secret_access_key"],
                "token": role.get("session_token"),
                "expires": None,
                "source": "moto:" + role.get("role_arn", ""),
            }
    return None


def parse_authorization(value):
    if not value or not value.startswith("AWS4-HMAC-SHA256 "):
        return None
    fields = {}
    for part in value[len("AWS4-HMAC-SHA256 ") :].split(","):
        name, _, val = part.strip().partition("=")
        fields[name] = val
    scope = fields.get("Credential", "").split("/")
    if len(scope) != 5 or not fields.get("SignedHeaders") or not fields.get("Signature"):
        return None
    return {
        "key": scope[0],
        "date": scope[1],
        "region": scope[2],
        "service": scope[3],
        "signed_headers": fields["SignedHeaders"].split(";"),
        "signature": fields["Signature"],
    }


def canonical_params(query):
    """The query as AWS reads it: %-decoded ('+' stays a plus), to be re-encoded by botocore."""
    params = []
    for pair in query.split("&") if query else []:
        name, _, value = pair.partition("=")
        params.append((urllib.parse.unquote(name), urllib.parse.unquote(value)))
    return params


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kanaria-sigv4-proxy"

    def log_message(self, *args):
        pass

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, payload, content_type="application/json"):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def handle_any(self, method):
        body = self.body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_proxy/"):
            return self.control(method, path, body)
        verdict = self.check(method, body)
        if verdict is not None:
            status, message, entry = verdict
            self.record(method, entry, status, message)
            return self.send(status, {"message": message})
        self.record(method, self.checked, 200, "ok")
        self.forward(method, body)

    def record(self, method, entry, status, reason):
        with lock:
            log.append(
                {
                    "time": now().isoformat(),
                    "method": method,
                    "path": self.path,
                    "accessKeyId": entry.get("key", ""),
                    "source": entry.get("source", ""),
                    "status": status,
                    "reason": reason,
                }
            )

    def check(self, method, body):
        auth = parse_authorization(self.headers.get("Authorization"))
        if auth is None:
            return 403, "Missing Authentication Token", {}
        entry = {"key": auth["key"]}
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            signed_at = datetime.datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return 403, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", entry
        if abs(now() - signed_at) > MAX_SKEW:
            return 403, f"Signature expired: {amz_date} is now earlier or later than the allowed 5 minutes.", entry
        if auth["region"] != self.server.region or auth["service"] != self.server.service:
            return 403, f"Credential should be scoped to a valid region and service ({self.server.region}/{self.server.service}).", entry
        with lock:
            creds = known.get(auth["key"])
        if creds is None:
            creds = moto_credentials(self.server.moto, auth["key"])
        if creds is None:
            return 403, "The security token included in the request is invalid.", entry
        entry["source"] = creds["source"]
        if creds["token"] and self.headers.get("X-Amz-Security-Token") != creds["token"]:
            return 403, "The security token included in the request is invalid.", entry
        if creds["expires"] is not None and creds["expires"] <= now():
            return 403, "The security token included in the request is expired", entry
        payload_hash = hashlib.sha256(body).hexdigest()
        if self.headers.get("X-Amz-Content-SHA256", payload_hash) != payload_hash:
            return 400, "The provided 'x-amz-content-sha256' header does not match what was computed.", entry
        expected = self.expected_signature(method, body, auth, creds, amz_date)
        if expected["signed_headers"] != auth["signed_headers"] or expected["signature"] != auth["signature"]:
            return 403, (
                f"{MISMATCH}\n\nThe Canonical String for this request should have been\n'{expected['canonical']}'"
                f"\n\nThe String-to-Sign should have been\n'{expected['string_to_sign']}'\n"
            ), entry
        self.checked = entry
        return None

    def expected_signature(self, method, body, auth, creds, amz_date):
        """botocore's SigV4 over what arrived: the signed headers as sent, the query as AWS decodes it."""
        parts = urllib.parse.urlsplit(self.path)
        headers = {name: self.headers.get(name, "") for name in auth["signed_headers"]}
        request = AWSRequest(
            method=method,
            url=f"http://{self.headers.get('Host')}{parts.path}",
            params=canonical_params(parts.query),
            data=body,
            headers=headers,
        )
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(auth["key"], creds["secret"], creds["token"]), auth["service"], auth["region"])
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        return {
            "signed_headers": signer.signed_headers(signer.headers_to_sign(request)).split(";"),
            "signature": signer.signature(string_to_sign, request),
            "canonical": canonical,
            "string_to_sign": string_to_sign,
        }

    def forward(self, method, body):
        upstream = urllib.parse.urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {"Content-Type": self.headers.get("Content-Type", "")} if body else {}
        try:
            conn.request(method, self.path, body=body or None, headers=headers)
            answer = conn.getresponse()
            self.send(answer.status, answer.read(), answer.getheader("Content-Type", "application/json"))
        finally:
            conn.close()

    def control(self, method, path, body):
        request = json.loads(body) if body else {}
        if path == "/_proxy/ready":
            return self.send(200, {"ready": True})
        if path == "/_proxy/log" and method == "GET":
            with lock:
                return self.send(200, list(log))
        if path == "/_proxy/credentials" and method == "POST":
            return self.send(200, mint(float(request.get("ttlSeconds", 3600)), request.get("name", "minted")))
        if path == "/_proxy/pod-identity" and method == "POST":
            token = secrets.token_urlsafe(24)
            name = request.get("name", "pod-identity")
            with lock:
                pod_tokens[token] = {"ttl": float(request.get("ttlSeconds", 3600)), "fetches": 0, "name": name}
            host = self.headers.get("Host")
            return self.send(200, {"token": token, "url": f"http://{host}/_proxy/pod-identity/credentials"})
        if path == "/_proxy/pod-identity/credentials" and method == "GET":
            with lock:
                grant = pod_tokens.get(self.headers.get("Authorization", ""))
                if grant is not None:
                    grant["fetches"] += 1
            if grant is None:
                return self.send(401, {"message": "invalid pod identity token"})
            return self.send(200, mint(grant["ttl"], f"pod-identity:{grant['name']}"))
        return self.send(404, {"message": f"no control endpoint {method} {path}"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--moto", default="")
    parser.add_argument("--region", default="us-west-2")
    parser.add_argument("--service", default="aps")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.upstream, server.moto = args.upstream, args.moto
    server.region, server.service = args.region, args.service
    server.serve_forever()


if __name__ == "__main__":
    main()
