"""make_tokens.py - keys and tokens for the jwt_auth tests, made by
independent implementations: PyJWT (Debian's python3-jwt) signs most
tokens, jwcrypto (python3-jwcrypto) exports the public JWKS and signs a
few more, so the plugin is checked against code that is not its own.

    /usr/bin/python3 make_tokens.py NOW OUT.json

NOW is the test host's clock in Unix seconds. OUT.json gets
{"jwks": {...public keys...}, "jwks_rotated": {...}, "pem": {name: PEM
text of a key of "jwks" (or not a public key: "ec256_private",
"certificate")}, "tokens": {name: token}, "hs_secret": ...}.
Fresh keys every run: nothing secret is stored in the repository.
"""

import base64
import hashlib
import hmac
import json
import sys

import datetime

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from jwcrypto import jwk as jwc_jwk
from jwcrypto import jws as jwc_jws

ISSUER = "https://issuer.example"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key, kid, alg=None):
    d = json.loads(jwc_jwk.JWK.from_pyca(key.public_key()).export_public())
    d["kid"] = kid
    d["use"] = "sig"
    if alg:
        d["alg"] = alg
    return d


def main():
    now = int(sys.argv[1])
    out_path = sys.argv[2]

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec256 = ec.generate_private_key(ec.SECP256R1())
    ec384 = ec.generate_private_key(ec.SECP384R1())
    ec521 = ec.generate_private_key(ec.SECP521R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rotated_rsa = rsa.generate_private_key(public_exponent=65537,
                                           key_size=2048)
    hs_secret = b"0123456789abcdef0123456789abcdef-test-only"

    jwks = {"keys": [
        public_jwk(rsa_key, "rsa1"),
        public_jwk(ec256, "ec256"),
        public_jwk(ec384, "ec384"),
        public_jwk(ec521, "ec521"),
        public_jwk(ed_key, "ed1"),
        {"kty": "oct", "kid": "hs1", "alg": "HS256", "use": "sig",
         "k": b64url(hs_secret)},
    ]}

    # The provider's set after it rotated a new key in.
    jwks_rotated = {"keys": [public_jwk(rsa_key, "rsa1"),
                             public_jwk(rotated_rsa, "rsa2")]}

    claims = {
        "iss": ISSUER, "aud": "api", "sub": "alice", "iat": now,
        "exp": now + 3600, "org": {"team": "payments", "id": 7},
        "groups": ["admins", "dev"], "admin": True,
    }

    def sign(alg, key, kid, payload=None, headers=None):
        h = {"kid": kid} if kid else {}
        h.update(headers or {})
        return jwt.encode(payload if payload is not None else claims, key,
                          algorithm=alg, headers=h)

    t = {}
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        t[alg] = sign(alg, rsa_key, "rsa1")
    t["ES256"] = sign("ES256", ec256, "ec256")
    t["ES384"] = sign("ES384", ec384, "ec384")
    t["ES512"] = sign("ES512", ec521, "ec521")
    t["EdDSA"] = sign("EdDSA", ed_key, "ed1")
    t["HS256"] = sign("HS256", hs_secret, "hs1")
    t["RS256_no_kid"] = sign("RS256", rsa_key, None)
    t["ES256_no_kid"] = sign("ES256", ec256, None)

    # jwcrypto as a second, independent signer.
    for alg, key, kid in (("PS384", rsa_key, "rsa1"), ("EdDSA", ed_key, "ed1"),
                          ("ES256", ec256, "ec256")):
        s = jwc_jws.JWS(json.dumps(claims).encode())
        s.add_signature(jwc_jwk.JWK.from_pyca(key), None,
                        json.dumps({"alg": alg, "kid": kid}))
        t["jwcrypto_" + alg] = s.serialize(compact=True)

    def with_claims(**changes):
        c = dict(claims)
        for k, v in changes.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return sign("RS256", rsa_key, "rsa1", c)

    t["expired"] = with_claims(exp=now - 3600, iat=now - 7200)
    t["expired_within_skew"] = with_claims(exp=now - 30, iat=now - 600)
    t["not_yet_valid"] = with_claims(nbf=now + 3600)
    t["nbf_within_skew"] = with_claims(nbf=now + 30)
    t["wrong_issuer"] = with_claims(iss="https://evil.example")
    t["wrong_audience"] = with_claims(aud="other")
    t["audience_list"] = with_claims(aud=["other", "api"])
    t["no_exp"] = with_claims(exp=None)
    t["long_lifetime"] = with_claims(exp=now + 100 * 86400)
    t["bob"] = with_claims(sub="bob")
    t["bad_header_claim"] = with_claims(sub="evil\r\nx-injected: 1")
    t["unknown_kid"] = sign("RS256", other_rsa, "rsa-unknown")
    t["rotated"] = sign("RS256", rotated_rsa, "rsa2")
    t["wrong_key_same_kid"] = sign("RS256", other_rsa, "rsa1")
    t["none"] = jwt.encode(claims, None, algorithm="none")

    # HS256 "signed" with the RSA public key's JWK text as the secret: the
    # classic key-confusion forgery; made by hand since no library will.
    header = b64url(json.dumps({"alg": "HS256", "kid": "rsa1"}).encode())
    body = b64url(json.dumps(claims).encode())
    forged = hmac.new(json.dumps(jwks["keys"][0]).encode(),
                      (header + "." + body).encode(), hashlib.sha256).digest()
    t["hs256_with_rsa_kid"] = header + "." + body + "." + b64url(forged)

    parts = t["RS256"].split(".")
    sig = bytearray(base64.urlsafe_b64decode(parts[2] + "=="))
    sig[10] ^= 1
    t["tampered_signature"] = parts[0] + "." + parts[1] + "." + b64url(sig)
    t["tampered_payload"] = (parts[0] + "." +
                             b64url(json.dumps(dict(claims, sub="mallory"))
                                    .encode()) + "." + parts[2])
    # Time claims at and beyond the edges of int64 (issue 10, defect 2):
    # no arithmetic on them may overflow, before or after the signature.
    int64_max, int64_min = 2**63 - 1, -2**63
    t["exp_max"] = with_claims(exp=int64_max)
    exp_max_parts = t["exp_max"].split(".")
    t["exp_max_junk_signature"] = (exp_max_parts[0] + "." + exp_max_parts[1] +
                                   "." + b64url(b"junk" * 64))
    t["exp_min"] = with_claims(exp=int64_min)
    t["exp_minus_one"] = with_claims(exp=-1)
    t["exp_zero"] = with_claims(exp=0)
    t["exp_huge_float"] = with_claims(exp=1e300)
    t["exp_beyond_int64"] = with_claims(exp=2**63)
    t["nbf_max"] = with_claims(nbf=int64_max)
    t["nbf_min"] = with_claims(nbf=int64_min)
    t["nbf_minus_one"] = with_claims(nbf=-1)
    t["iat_min"] = with_claims(iat=int64_min)
    t["iat_max"] = with_claims(iat=int64_max)
    # Around now +- the default 60 s skew, and at now itself.
    t["exp_at_skew_edge"] = with_claims(exp=now - 60, iat=now - 600)
    t["exp_inside_skew_edge"] = with_claims(exp=now - 59, iat=now - 600)
    t["nbf_at_skew_edge"] = with_claims(nbf=now + 60)
    t["nbf_beyond_skew_edge"] = with_claims(nbf=now + 61)
    t["exp_now"] = with_claims(exp=now, iat=now - 600)
    t["exp_now_plus_one"] = with_claims(exp=now + 1, iat=now - 600)
    t["not_a_jwt"] = "abc.def"
    t["crit_header"] = sign("RS256", rsa_key, "rsa1",
                            headers={"crit": ["exp"], "exp": 1})

    # The same public keys as PEM, as kgateway takes them in jwks.local.
    def spki(key):
        return key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(rsa_key.public_key()).serial_number(1)
            .not_valid_before(datetime.datetime(2020, 1, 1))
            .not_valid_after(datetime.datetime(2040, 1, 1))
            .sign(rsa_key, hashes.SHA256()))
    pem = {
        "rsa": spki(rsa_key),
        "rsa_pkcs1": rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.PKCS1).decode(),
        "ec256": spki(ec256),
        "ec384": spki(ec384),
        "ed25519": spki(ed_key),
        "ec256_private": ec256.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode(),
        "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
    }
    # Key confusion with a PEM key: HS256 "signed" with the PEM text an
    # operator configured (with and without the final newline), hoping
    # the verifier uses that text as an HMAC secret.
    for suffix, secret in (("", pem["rsa"]), ("_trimmed", pem["rsa"].strip())):
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        mac = hmac.new(secret.encode(), (header + "." + body).encode(),
                       hashlib.sha256).digest()
        t["hs256_with_rsa_pem" + suffix] = (header + "." + body + "." +
                                            b64url(mac))

    with open(out_path, "w") as f:
        json.dump({"jwks": jwks, "jwks_rotated": jwks_rotated, "pem": pem,
                   "tokens": t, "hs_secret": b64url(hs_secret)}, f)


if __name__ == "__main__":
    main()
