#!/usr/bin/env python3
"""Tokens from the test OpenID Connect provider (tests/node/idp.mjs), and
tokens it never issued.

code-flow: the authorization code flow as a browser and the console would
do it, over HTTP against the real provider: PKCE (S256), state and nonce;
the provider's development login form (any name, the password is ignored)
and consent form are submitted, cookies kept; it stops at the redirect to
the redirect URI (which is not fetched), checks `state` and `iss`,
exchanges the code at the token endpoint (client_secret_basic), checks the
ID token's signature, issuer, audience and nonce, and prints the access
token (default) or the ID token.

    oidc_token.py code-flow --issuer I --client-id ID --client-secret S \
        --redirect-uri URI --login NAME [--resource R] [--what access|id]

forge: prints a JWT the provider never issued, for the verifier's refusals:
  other-key     RS256, signed by a fresh RSA key, with the provider's real
                `kid` (from its JWKS through discovery) unless --kid is given
  none          header alg "none", empty signature
  string-nbf    `"nbf": "99999999999"` as a string, signed by a fresh key
                with the provider's kid: it exists to test type confusion on
                the verifier's side (a verifier must refuse it whatever the
                signature; the provider cannot be made to sign it)
  wrong-issuer  like other-key, with iss http://evil.example
Claims: iss, aud, sub, exp = now+600, iat = now, preferred_username = sub.

    oidc_token.py forge --issuer I --aud A --kind KIND --sub S [--kid KID]

Only the standard library and `cryptography`. Errors go to stderr with a
non-zero status; stdout holds just the token.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html.parser
import http.cookiejar
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

TIMEOUT = 10
SCOPE = "openid profile email lagoa"


class Failure(Exception):
    pass


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_std(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def b64url_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


# ---- HTTP ------------------------------------------------------------------


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by hand, to stop before the redirect URI."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def make_opener() -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())


def fetch(opener, url: str, data: dict | None = None, headers: dict | None = None):
    """(status, headers, body text) for one request; 3xx and 4xx are answers too."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {})
    if body is not None:
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with opener.open(req, timeout=TIMEOUT) as resp:
            return resp.status, resp.headers, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def get_json(opener, url: str) -> dict:
    status, _, text = fetch(opener, url)
    if status != 200:
        raise Failure(f"GET {url}: HTTP {status}: {text[:300]}")
    return json.loads(text)


def discover(opener, issuer: str) -> dict:
    meta = get_json(opener, issuer.rstrip("/") + "/.well-known/openid-configuration")
    if meta.get("issuer") != issuer:
        raise Failure(f"discovery names issuer {meta.get('issuer')!r}, not {issuer!r}")
    return meta


# ---- the provider's HTML forms ---------------------------------------------


class FormParser(html.parser.HTMLParser):
    """Every <form>: its action, method, and named inputs (type, value)."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {"action": a.get("action", ""), "method": (a.get("method") or "get").lower(),
                          "id": a.get("id"), "inputs": []}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            self._form["inputs"].append((a["name"], (a.get("type") or "text").lower(), a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None


def submit_page(opener, page_url: str, text: str, login: str) -> tuple[int, object, str, str]:
    """Fill and submit the dev login or consent form found on a page."""
    parser = FormParser()
    parser.feed(text)
    for form in parser.forms:
        fields = {name: value for name, kind, value in form["inputs"] if kind == "hidden"}
        prompt = fields.get("prompt")
        names = {name for name, _, _ in form["inputs"]}
        if prompt == "login" and {"login", "password"} <= names:
            fields["login"] = login
            fields["password"] = "ignored"
        elif prompt != "consent":
            continue
        action = urllib.parse.urljoin(page_url, form["action"])
        status, headers, body = fetch(opener, action, data=fields)
        return status, headers, body, action
    raise Failure(f"no login or consent form at {page_url}: {text[:500]}")


# ---- JWT ---------------------------------------------------------------------


def jwt_parts(token: str) -> tuple[dict, dict, bytes, bytes]:
    try:
        h, p, s = token.split(".")
        return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), f"{h}.{p}".encode(), b64url_decode(s)
    except (ValueError, json.JSONDecodeError) as e:
        raise Failure(f"not a JWS compact serialisation: {e}") from e


def verify_rs256(token: str, jwks: dict) -> dict:
    header, payload, signing_input, signature = jwt_parts(token)
    if header.get("alg") != "RS256":
        raise Failure(f"ID token alg {header.get('alg')!r}, expected RS256")
    for key in jwks.get("keys", []):
        if key.get("kty") == "RSA" and key.get("kid") == header.get("kid"):
            public = rsa.RSAPublicNumbers(b64url_int(key["e"]), b64url_int(key["n"])).public_key()
            try:
                public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            except Exception as e:
                raise Failure("ID token signature does not verify with the provider's key") from e
            return payload
    raise Failure(f"ID token kid {header.get('kid')!r} is not in the provider's JWKS")


# ---- code-flow ---------------------------------------------------------------


def code_flow(a) -> str:
    opener = make_opener()
    meta = discover(opener, a.issuer)

    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    state = b64url(secrets.token_bytes(16))
    nonce = b64url(secrets.token_bytes(16))
    params = {
        "response_type": "code",
        "client_id": a.client_id,
        "redirect_uri": a.redirect_uri,
        "scope": SCOPE,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if a.resource:
        params["resource"] = a.resource
    url = meta["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)

    target = urllib.parse.urlsplit(a.redirect_uri)
    status, headers, text = fetch(opener, url)
    for _ in range(20):
        if status in (301, 302, 303, 307):
            location = urllib.parse.urljoin(url, headers["Location"])
            loc = urllib.parse.urlsplit(location)
            if (loc.scheme, loc.netloc, loc.path) == (target.scheme, target.netloc, target.path):
                return finish(opener, meta, a, location, state, nonce, verifier)
            url = location
            status, headers, text = fetch(opener, url)
        elif status == 200:
            status, headers, text, url = submit_page(opener, url, text, a.login)
        else:
            raise Failure(f"{url}: HTTP {status}: {text[:500]}")
    raise Failure("too many steps before the redirect to the redirect URI")


def finish(opener, meta, a, location, state, nonce, verifier) -> str:
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))
    if "error" in query:
        raise Failure(f"the provider answered {query['error']}: {query.get('error_description', '')}")
    if query.get("state") != state:
        raise Failure(f"state {query.get('state')!r} is not the one sent")
    if "iss" in query and query["iss"] != a.issuer:
        raise Failure(f"iss {query['iss']!r} in the authorization response is not the issuer")
    code = query.get("code")
    if not code:
        raise Failure(f"no code in {location}")

    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": a.redirect_uri,
            "code_verifier": verifier}
    if a.resource:
        form["resource"] = a.resource
    # RFC 6749 2.3.1: id and secret are form-encoded before Basic.
    basic = b64url_std(f"{urllib.parse.quote(a.client_id, safe='')}:{urllib.parse.quote(a.client_secret, safe='')}")
    status, _, text = fetch(opener, meta["token_endpoint"], data=form,
                            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"})
    if status != 200:
        raise Failure(f"token endpoint: HTTP {status}: {text[:500]}")
    tokens = json.loads(text)

    id_token = tokens.get("id_token")
    if not id_token:
        raise Failure(f"no id_token in the token response: {sorted(tokens)}")
    claims = verify_rs256(id_token, get_json(opener, meta["jwks_uri"]))
    if claims.get("iss") != a.issuer:
        raise Failure(f"ID token iss {claims.get('iss')!r}")
    aud = claims.get("aud")
    if a.client_id not in (aud if isinstance(aud, list) else [aud]):
        raise Failure(f"ID token aud {aud!r} does not name the client")
    if "nonce" not in claims:
        raise Failure("ID token has no nonce")
    if claims["nonce"] != nonce:
        raise Failure(f"ID token nonce {claims['nonce']!r} is not the one sent")

    if a.what == "id":
        return id_token
    access = tokens.get("access_token")
    if not access:
        raise Failure("no access_token in the token response")
    return access


# ---- forge -------------------------------------------------------------------


def provider_kid(issuer: str) -> str:
    opener = make_opener()
    meta = discover(opener, issuer)
    keys = get_json(opener, meta["jwks_uri"]).get("keys", [])
    for key in keys:
        if key.get("use", "sig") == "sig" and key.get("kid"):
            return key["kid"]
    raise Failure("the provider's JWKS has no signing key with a kid")


def forge(a) -> str:
    now = int(time.time())
    claims = {
        "iss": "http://evil.example" if a.kind == "wrong-issuer" else a.issuer,
        "aud": a.aud,
        "sub": a.sub,
        "exp": now + 600,
        "iat": now,
        "preferred_username": a.sub,
    }
    if a.kind == "string-nbf":
        claims["nbf"] = "99999999999"

    def segment(obj) -> str:
        return b64url(json.dumps(obj, separators=(",", ":")).encode())

    if a.kind == "none":
        return f"{segment({'alg': 'none', 'typ': 'at+jwt'})}.{segment(claims)}."

    kid = a.kid or provider_kid(a.issuer)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signing_input = f"{segment({'alg': 'RS256', 'typ': 'at+jwt', 'kid': kid})}.{segment(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


# ---- command line ------------------------------------------------------------


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("code-flow", help="sign in through the provider and print a token")
    c.add_argument("--issuer", required=True)
    c.add_argument("--client-id", required=True)
    c.add_argument("--client-secret", required=True)
    c.add_argument("--redirect-uri", required=True)
    c.add_argument("--login", required=True, help="login name typed on the dev login page")
    c.add_argument("--resource", help="resource indicator (urn:lagoa, urn:lagoa:short, urn:other)")
    c.add_argument("--what", choices=["access", "id"], default="access")

    f = sub.add_parser("forge", help="print a JWT the provider never issued")
    f.add_argument("--issuer", required=True)
    f.add_argument("--aud", required=True)
    f.add_argument("--kind", required=True, choices=["other-key", "none", "string-nbf", "wrong-issuer"])
    f.add_argument("--sub", required=True)
    f.add_argument("--kid", help="kid to put in the header (default: the provider's)")

    a = p.parse_args(argv)
    try:
        token = code_flow(a) if a.command == "code-flow" else forge(a)
    except (Failure, OSError, KeyError, ValueError) as e:
        print(f"oidc_token.py {a.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
