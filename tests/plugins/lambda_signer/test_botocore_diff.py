"""test_botocore_diff.py - the signer against botocore's SigV4Auth.

Generates many requests (odd paths with dot segments, repeated and
encoded slashes, unicode, reserved characters; repeated query keys,
empty keys and values, encoded and raw query bytes; many headers with
repeated names and odd white space; bodies; session tokens), signs each
with the C signer (through sigv4_cli) and with Debian's python3-botocore,
and compares canonical request, string to sign and signature.

    /usr/bin/python3 test_botocore_diff.py SIGV4_CLI [COUNT] [SEED]

Two modes, as botocore has them: SigV4Auth (path normalised and encoded
again: every service but S3) and S3SigV4Auth (path as on the wire,
x-amz-content-sha256 signed). Exits 1 on the first difference, printing
the request and both canonical requests. In CI (CI=true) a missing
botocore fails; elsewhere too: the test has no reason to skip.
"""

import json
import random
import subprocess
import sys
import urllib.parse

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
except ImportError as exc:  # a missing dependency fails, never skips
    print(f"python3-botocore is required: {exc}", file=sys.stderr)
    sys.exit(1)

TIMEOUT = 60.0
UNRESERVED = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
              "0123456789-_.~")
# Characters a path segment may carry (no '?', '#': those end the path).
PATH_CHARS = UNRESERVED + "!$&'()*+,;=:@ %" + "\u00e9\u1234\U0001f600"
QUERY_CHARS = UNRESERVED + "!$'()*+,;:@/? \u00e9\u1234&=%#"
# Names neither botocore nor the plugin treats specially.
HEADER_NAMES = ["x-custom", "My-Header", "accept", "content-type",
                "x-amz-meta-a", "x-amz-target", "cache-control", "X-Mixed",
                "a", "zz-last", "content-encoding", "if-match"]
REGIONS = ["us-east-1", "eu-west-3", "ap-southeast-2", "us-gov-west-1"]
SERVICES = ["lambda", "execute-api", "sqs", "es", "service"]


def rand_text(rng, alphabet, lo, hi):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def wire_encode(rng, text, keep):
    """Percent-encode `text` as a client might: characters in `keep`
    stay raw at random, everything else is %XX (random hex case)."""
    out = []
    for ch in text:
        if ch in keep and rng.random() < 0.7:
            out.append(ch)
            continue
        for b in ch.encode("utf-8"):
            h = "%02X" % b
            out.append("%" + (h.lower() if rng.random() < 0.3 else h))
    return "".join(out)


def rand_path(rng, s3):
    segs = []
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        if r < 0.1:
            segs.append(".")
        elif r < 0.2:
            segs.append("..")
        elif r < 0.3:
            segs.append("")
        else:
            segs.append(rand_text(rng, PATH_CHARS, 1, 8))
    path = "/" + "/".join(segs)
    if rng.random() < 0.3:
        path += "/"
    if s3:
        # S3 signs the path as sent: send it properly encoded, as any
        # client does (upper-case escapes, only unreserved bytes raw).
        return urllib.parse.quote(path, safe="/~"), None
    # Raw bytes as on a wire that is not strict; '%' must stay a valid
    # byte for botocore's str path: keep it raw (it is encoded again).
    return path, path


def rand_query(rng):
    pairs = []
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5, 8])):
        key = rand_text(rng, QUERY_CHARS, 0, 6)
        if pairs and rng.random() < 0.3:
            key = rng.choice(pairs)[0]  # repeated key
        value = rand_text(rng, QUERY_CHARS, 0, 8)
        pairs.append((key, value))
    parts = []
    for key, value in pairs:
        k = wire_encode(rng, key, UNRESERVED + "!$'()*,;:@/? \u00e9")
        # An empty piece ("a&&b") is no parameter at all: an empty key
        # is always written "=value".
        if value == "" and key != "" and rng.random() < 0.5:
            parts.append(k)  # "key" with no '=' signs as "key="
        else:
            parts.append(k + "=" + wire_encode(rng, value,
                                               UNRESERVED + "!$'()*,;:@/?="))
    return pairs, "&".join(parts)


def rand_value(rng):
    v = rand_text(rng, UNRESERVED + " \t\"',;:=/", 0, 20)
    if rng.random() < 0.3:
        v = "  " + v + " \t "
    return v


def make_case(rng, index):
    s3 = rng.random() < 0.25
    path, _ = rand_path(rng, s3)
    pairs, query = rand_query(rng)
    headers = []
    for _ in range(rng.randint(0, 10)):
        name = rng.choice(HEADER_NAMES)
        if rng.random() < 0.5:
            name = "".join(c.upper() if rng.random() < 0.5 else c
                           for c in name)
        headers.append((name, rand_value(rng)))
    body = rand_text(rng, UNRESERVED + " {}\"", 0, 40) \
        if rng.random() < 0.5 else ""
    token = None
    if rng.random() < 0.3:
        token = rand_text(rng, UNRESERVED + "/+=", 20, 80)
    return {
        "index": index,
        "s3": s3,
        "method": rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH"]),
        "path": path,
        "pairs": pairs,
        "query": query,
        "host": rng.choice(["example.amazonaws.com",
                            "lambda.us-east-1.amazonaws.com",
                            "abc.execute-api.eu-west-3.amazonaws.com:8443"]),
        "headers": headers,
        "body": body,
        "region": rng.choice(REGIONS),
        "service": "s3" if s3 else rng.choice(SERVICES),
        "time": rng.choice([1440938160, 1767225600, 1767225600 + 86399,
                            1767225600 + 86400 + rng.randint(0, 10000)]),
        "access_key": "AKID" + rand_text(rng, UNRESERVED[:36], 12, 16),
        "secret_key": rand_text(rng, UNRESERVED + "/+", 30, 40),
        "token": token,
    }


def botocore_sign(case):
    creds = botocore.credentials.Credentials(case["access_key"],
                                             case["secret_key"],
                                             case["token"])
    cls = botocore.auth.S3SigV4Auth if case["s3"] else botocore.auth.SigV4Auth
    auth = cls(creds, case["service"], case["region"])
    # A str path as botocore's callers hand it over: the URL's path.
    url = "http://" + case["host"] + case["path"]
    headers = botocore.awsrequest.HTTPHeaders()
    for name, value in case["headers"]:
        headers.add_header(name, value) if hasattr(headers, "add_header") \
            else headers.__setitem__(name, value)
    req = botocore.awsrequest.AWSRequest(method=case["method"], url=url,
                                         data=case["body"].encode(),
                                         params=case["pairs"] or None)
    req.headers = headers
    import datetime
    ts = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc)
    req.context["timestamp"] = ts.strftime("%Y%m%dT%H%M%SZ")
    auth._modify_request_before_signing(req)
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    return creq, sts, auth.signature(sts, req)


def c_request(case):
    target = case["path"] + ("?" + case["query"] if case["query"] else "")
    return {
        "method": case["method"],
        "target": target,
        "host": case["host"],
        "headers": [list(h) for h in case["headers"]],
        "body": case["body"],
        "normalize": not case["s3"],
        "content_sha256": case["s3"],
        "time": case["time"],
        "region": case["region"],
        "service": case["service"],
        "access_key": case["access_key"],
        "secret_key": case["secret_key"],
        "token": case["token"],
    }


def main():
    cli = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 20260101
    rng = random.Random(seed)
    cases = [make_case(rng, i) for i in range(count)]
    payload = "".join(json.dumps(c_request(c)) + "\n" for c in cases)
    proc = subprocess.run([cli], input=payload.encode(), capture_output=True,
                          timeout=TIMEOUT, check=False)
    if proc.returncode != 0:
        print(f"sigv4_cli exited {proc.returncode}: {proc.stderr!r}")
        return 1
    lines = proc.stdout.decode().splitlines()
    if len(lines) != count:
        print(f"sigv4_cli answered {len(lines)} of {count} requests")
        return 1
    for case, line in zip(cases, lines):
        got = json.loads(line)
        creq, sts, sig = botocore_sign(case)
        if "error" in got or got["creq"] != creq or got["sts"] != sts \
                or got["signature"] != sig:
            print(f"case {case['index']} differs (seed {seed})")
            print(json.dumps(c_request(case), indent=1, ensure_ascii=False))
            print("--- botocore canonical request\n" + creq)
            print("--- gwf canonical request\n" + got.get("creq", got.get(
                "error", "")))
            return 1
    s3 = sum(1 for c in cases if c["s3"])
    print(f"{count} requests signed identically "
          f"({count - s3} SigV4Auth, {s3} S3SigV4Auth)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
