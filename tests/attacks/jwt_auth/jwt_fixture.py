"""jwt_fixture.py - keys, a JWKS and a signer for the jwt_auth attacks.

The attacks need tokens no JWT library will make (a header with "alg"
twice, a payload nested 5,000 deep, bytes that are not UTF-8, an RS256
signature under the kid of an EC key), so the tokens are assembled here
byte by byte and signed with python3-cryptography (Debian), an
implementation independent of the plugin. Fresh keys every run.
"""

import base64
import hashlib
import hmac
import json
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

ISSUER = "https://issuer.example"
AUDIENCE = "api"
SKEW_S = 60          # the providers' clockSkew in these tests
HS_SECRET = b"attack-suite-hs256-secret-0123456789abcdef"


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64url(n.to_bytes(size, "big"))


class Keys:
    """One key of each type, their public JWKS (kids rsa1, ec256, ed1,
    hs1) and a signer that takes raw header and payload bytes."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537,
                                            key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.ed = ed25519.Ed25519PrivateKey.generate()
        rn = self.rsa.public_key().public_numbers()
        en = self.ec.public_key().public_numbers()
        ed_raw = self.ed.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.rsa_jwk = {"kty": "RSA", "kid": "rsa1", "use": "sig",
                        "n": _int_b64(rn.n), "e": _int_b64(rn.e)}
        self.jwks = {"keys": [
            self.rsa_jwk,
            {"kty": "EC", "crv": "P-256", "kid": "ec256", "use": "sig",
             "x": _int_b64(en.x, 32), "y": _int_b64(en.y, 32)},
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "use": "sig",
             "x": b64url(ed_raw)},
            {"kty": "oct", "kid": "hs1", "alg": "HS256", "use": "sig",
             "k": b64url(HS_SECRET)},
        ]}

    def rsa_public_pem(self,
                       fmt=serialization.PublicFormat.SubjectPublicKeyInfo):
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, fmt)

    def sign_input(self, alg, signing_input, secret=None):
        """The signature bytes of `signing_input` (bytes) under `alg`."""
        if alg == "HS256":
            return hmac.new(secret if secret is not None else HS_SECRET,
                            signing_input, hashlib.sha256).digest()
        if alg == "RS256":
            return self.rsa.sign(signing_input, padding.PKCS1v15(),
                                 hashes.SHA256())
        if alg == "ES256":
            r, s = decode_dss_signature(
                self.ec.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if alg == "EdDSA":
            return self.ed.sign(signing_input)
        raise ValueError(alg)

    def token(self, alg="HS256", header=None, payload=None, kid="default",
              secret=None, sign_alg=None):
        """A compact JWS. header/payload: a dict (JSON-encoded here) or the
        exact bytes/str to encode. kid "default" picks the key of `alg`;
        None leaves it out. sign_alg signs with another algorithm's key
        than the header names (the key-confusion attacks)."""
        if header is None:
            header = {"alg": alg, "typ": "JWT"}
            if kid == "default":
                kid = {"HS256": "hs1", "RS256": "rsa1", "ES256": "ec256",
                       "EdDSA": "ed1"}.get(alg)
            if kid is not None:
                header["kid"] = kid
        if payload is None:
            payload = claims()
        h = json.dumps(header) if isinstance(header, dict) else header
        p = json.dumps(payload) if isinstance(payload, dict) else payload
        signing_input = (b64url(h) + "." + b64url(p)).encode()
        sig = self.sign_input(sign_alg or alg, signing_input, secret)
        return signing_input.decode() + "." + b64url(sig)


def claims(now=None, **changes):
    """Valid claims for the test providers; a change of None removes it."""
    now = int(time.time()) if now is None else now
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now,
         "exp": now + 3600, "groups": ["admins", "dev"]}
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c
