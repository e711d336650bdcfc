#!/usr/bin/python3
"""bench_botocore.py - botocore's signatures per second on the requests
bench_sigv4 signs (the requests.jsonl it writes), for comparison.

    /usr/bin/python3 bench_botocore.py requests.jsonl [SECONDS_PER_SHAPE]

Each request is signed as in botocore's add_auth (canonical request,
string to sign, signature; SigV4Auth, or S3SigV4Auth for service s3),
with the timestamp fixed, in a loop for the given time (default 2 s).
botocore derives the signing key on every signature (it has no cache),
which is part of what it costs.
"""

import datetime
import json
import sys
import time

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
except ImportError as exc:
    raise SystemExit("python3-botocore is required: %s" % exc)


def make(shape):
    creds = botocore.credentials.Credentials(
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    s3 = shape["service"] == "s3"
    cls = botocore.auth.S3SigV4Auth if s3 else botocore.auth.SigV4Auth
    auth = cls(creds, shape["service"], "eu-west-3")
    headers = botocore.awsrequest.HTTPHeaders()
    for name, value in shape["headers"]:
        headers.add_header(name, value)
    req = botocore.awsrequest.AWSRequest(
        method=shape["method"],
        url="https://service.eu-west-3.amazonaws.com" + shape["target"],
        data=b"b" * shape["body_len"])
    req.headers = headers
    stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    req.context["timestamp"] = stamp.strftime("%Y%m%dT%H%M%SZ")
    return auth, req


def main():
    path = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    print("%-22s %14s" % ("request", "signatures/s"))
    with open(path) as f:
        shapes = [json.loads(line) for line in f if line.strip()]
    for shape in shapes:
        auth, req = make(shape)
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(100):
                creq = auth.canonical_request(req)
                sts = auth.string_to_sign(req, creq)
                auth.signature(sts, req)
            n += 100
        rate = n / (time.perf_counter() - start)
        print("%-22s %14.0f" % (shape["name"], rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
