#!/usr/bin/python3
"""run_conformance.py - the CEL specification's conformance cases
(tests/vectors/cel-spec/*.textproto, google/cel-spec's
tests/simple/testdata) against gwf's CEL (plugins/rbac), through the
cel_conformance binary.

    run_conformance.py CEL_CONFORMANCE_BINARY VECTOR_DIR [--all]

Reads the subset of protobuf text format those files use, runs every
case of the sections listed in CLAIMED and fails on any case whose
outcome differs: the value (kind and value, lists in order, maps in any
order, NaN equal to NaN), or an error where the case expects an
evaluation error (any message; gwf's checker may refuse at config time
an operator applied to types it has no overload for, which a checked
CEL also refuses). Cases marked disable_check are compiled without
gwf's type checks, so that their type errors surface when evaluated.
Cases that bind variables, build protobuf messages or name IANA time
zones cannot run on gwf's CEL; the few of them inside claimed sections
are listed, with the reason, in SKIPPED_CASES. With --all it also runs
every other section and prints its pass count, which is how CLAIMED was
chosen.
"""

import json
import math
import os
import subprocess
import sys

# file -> sections gwf claims. Every case of these runs and must pass,
# except the cases SKIPPED_CASES names (each with its reason).
# Sections not listed are skipped; SKIPPED says why.
CLAIMED = {
    "basic.textproto": ["self_eval_zeroish", "self_eval_nonzeroish"],
    "comparisons.textproto": ["eq_literal", "ne_literal", "lt_literal",
                              "gt_literal", "lte_literal", "gte_literal",
                              "in_list_literal", "in_map_literal"],
    "conversions.textproto": ["bool", "bytes", "double", "dyn", "identity",
                              "int", "string", "type", "uint"],
    "fp_math.textproto": ["fp_math"],
    "integer_math.textproto": ["int64_math", "uint64_math"],
    "lists.textproto": ["concatenation", "index", "in", "size"],
    "logic.textproto": ["conditional", "AND", "OR", "NOT"],
    "macros.textproto": ["exists", "all", "exists_one", "map", "filter",
                         "nested"],
    "parse.textproto": ["string_literals", "bytes_literals"],
    "string.textproto": ["size", "starts_with", "ends_with", "matches",
                         "concatenation", "contains", "bytes_concat"],
    "timestamps.textproto": ["timestamp_conversions", "duration_conversions",
                             "timestamp_selectors", "timestamp_selectors_tz",
                             "timestamp_equality", "duration_equality",
                             "timestamp_arithmetic", "comparisons",
                             "duration_converters", "timestamp_range",
                             "duration_range"],
}

# Cases of claimed sections that do not run: (file, section) -> {case
# names: why}. The runner reports each as SKIP; it fails if one of them
# no longer exists (so the list stays true).
_PROTO = ("builds a protobuf message (T{...}), which gwf refuses at "
          "config time: it has no protobuf types")
_IANA = ("an IANA time zone name: gwf refuses it at config time (fixed "
         "offsets such as '+05:30' and 'UTC' only; it reads no tz database)")
SKIPPED_CASES = {
    ("comparisons.textproto", "eq_literal"): {
        "eq_dyn_json_null, not_eq_dyn_proto2_msg_null, "
        "not_eq_dyn_proto3_msg_null": _PROTO},
    ("comparisons.textproto", "ne_literal"): {
        "ne_proto2, ne_proto3, ne_proto2_missing_fields_neq, "
        "ne_proto3_missing_fields_neq, ne_proto_nan_not_equal, "
        "ne_proto_different_types, ne_proto2_any_unpack, "
        "ne_proto2_any_unpack_bytewise_fallback, ne_proto3_any_unpack, "
        "ne_proto3_any_unpack_bytewise_fallback": _PROTO},
    ("timestamps.textproto", "duration_converters"): {
        "get_milliseconds": "binds a variable (gwf's CEL reads request "
                            "attributes, not arbitrary variables)"},
    ("timestamps.textproto", "timestamp_selectors_tz"): {
        "getDate, getDayOfMonth_name_pos, getDayOfMonth_name_neg, "
        "getDayOfYear, getMinutes": _IANA},
}

# The sections of the copied files that do not run, and why.
SKIPPED = {
    "basic.textproto": {
        "variables, functions, reserved_const":
            "bind variables (gwf's CEL reads request attributes, not "
            "arbitrary variables)"},
    "comparisons.textproto": {
        "eq_wrapper": "protobuf wrapper types",
        "bound": "binds variables"},
    "parse.textproto": {
        "nest, repeat": "protobuf messages and variables",
        "selectors, receiver_function_names, struct_field_names":
            "variables and protobuf messages (reserved words as field "
            "names are supported)",
        "whitespace, comments": "a protobuf message literal in the "
                                "expression"},
}


def skipped_case(fname, section, name):
    for names, why in SKIPPED_CASES.get((fname, section), {}).items():
        if name in [n.strip() for n in names.split(",")]:
            return why
    return None


# -- protobuf text format (the subset the files use) ---------------------

def tokenize(text):
    i, n = 0, len(text)
    toks = []
    while i < n:
        c = text[i]
        if c in " \t\r\n,;":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{}:[]<>":
            toks.append(("p", c))
            i += 1
        elif c in "'\"":
            q = c
            i += 1
            out = bytearray()
            while text[i] != q:
                if text[i] == "\\":
                    e = text[i + 1]
                    i += 2
                    simple = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8,
                              "f": 12, "v": 11, "\\": 92, "'": 39, '"': 34,
                              "?": 63}
                    if e in simple:
                        out.append(simple[e])
                    elif e in "xX":
                        h = ""
                        while i < n and len(h) < 2 and \
                                text[i] in "0123456789abcdefABCDEF":
                            h += text[i]
                            i += 1
                        out.append(int(h, 16))
                    elif e in "01234567":
                        o = e
                        while i < n and len(o) < 3 and text[i] in "01234567":
                            o += text[i]
                            i += 1
                        out.append(int(o, 8) & 0xff)
                    elif e == "u":
                        out += chr(int(text[i:i + 4], 16)).encode(
                            "utf-8", "surrogatepass")
                        i += 4
                    elif e == "U":
                        out += chr(int(text[i:i + 8], 16)).encode("utf-8")
                        i += 8
                    else:
                        raise ValueError("escape \\%s" % e)
                else:
                    out += text[i].encode("utf-8")
                    i += 1
            i += 1
            if toks and toks[-1][0] == "s":  # adjacent strings concatenate
                toks[-1] = ("s", toks[-1][1] + bytes(out))
            else:
                toks.append(("s", bytes(out)))
        else:
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_.-+/"):
                j += 1
            if j == i:  # any other character stands alone
                j = i + 1
            toks.append(("w", text[i:j]))
            i = j
    return toks


def parse_message(toks, pos, end):
    """-> (dict name -> [values], pos)"""
    msg = {}
    while pos < len(toks) and toks[pos] != ("p", end):
        name = toks[pos][1]
        pos += 1
        if toks[pos] == ("p", ":"):
            pos += 1
        t = toks[pos]
        if t in (("p", "{"), ("p", "<")):
            val, pos = parse_message(toks, pos + 1,
                                     "}" if t[1] == "{" else ">")
            pos += 1
        elif t == ("p", "["):
            pos += 1
            vals = []
            while toks[pos] != ("p", "]"):
                if toks[pos] == ("p", "{"):
                    v, pos = parse_message(toks, pos + 1, "}")
                    pos += 1
                else:
                    v = toks[pos][1]
                    pos += 1
                vals.append(v)
            pos += 1
            msg.setdefault(name, []).extend(vals)
            continue
        else:
            val = t[1]
            pos += 1
        msg.setdefault(name, []).append(val)
    return msg, pos


def one(msg, name, default=None):
    v = msg.get(name)
    return v[0] if v else default


# -- expected values in the runner's JSON form -----------------------------

class Unsupported(Exception):
    pass


def expected_value(v):
    if "int64_value" in v:
        return ("int", int(one(v, "int64_value")))
    if "uint64_value" in v:
        return ("uint", int(one(v, "uint64_value")))
    if "double_value" in v:
        d = one(v, "double_value")
        return ("double", float(d.replace("inf", "Infinity")
                                 if isinstance(d, str) else d))
    if "string_value" in v:
        return ("string", one(v, "string_value"))
    if "bytes_value" in v:
        return ("bytes", one(v, "bytes_value"))
    if "bool_value" in v:
        return ("bool", one(v, "bool_value") == "true")
    if "null_value" in v:
        return ("null", None)
    if "type_value" in v:
        return ("type", text(one(v, "type_value")))
    if "list_value" in v:
        lv = one(v, "list_value")
        return ("list", [expected_value(x) for x in lv.get("values", [])])
    if "map_value" in v:
        mv = one(v, "map_value")
        return ("map", [(expected_value(one(e, "key")),
                         expected_value(one(e, "value")))
                        for e in mv.get("entries", [])])
    raise Unsupported("value %r" % sorted(v))


def got_value(j):
    t = j["t"]
    if t in ("int", "uint"):
        return (t, int(j["v"]))
    if t == "double":
        return (t, float(j["v"]))
    if t == "string":
        return (t, bytes.fromhex(j["v"]))
    if t == "bytes":
        return (t, bytes.fromhex(j["v"]))
    if t == "bool":
        return (t, j["v"])
    if t == "null":
        return (t, None)
    if t == "type":
        return (t, j["v"])
    if t in ("timestamp", "duration"):
        return (t, (int(j["v"][0]), j["v"][1]))
    if t == "list":
        return (t, [got_value(x) for x in j["v"]])
    return (t, [(got_value(k), got_value(v)) for k, v in j["v"]])


def same(a, b):
    if a[0] != b[0]:
        return False
    if a[0] == "double":
        return (math.isnan(a[1]) and math.isnan(b[1])) or a[1] == b[1]
    if a[0] == "list":
        return len(a[1]) == len(b[1]) and all(
            same(x, y) for x, y in zip(a[1], b[1]))
    if a[0] == "map":
        if len(a[1]) != len(b[1]):
            return False
        for k, v in a[1]:
            if not any(same(k, k2) and same(v, v2) for k2, v2 in b[1]):
                return False
        return True
    return a[1] == b[1]


def load_cases(path):
    with open(path, encoding="utf-8") as f:
        msg, _ = parse_message(tokenize(f.read()), 0, None)
    for sec in msg.get("section", []):
        for t in sec.get("test", []):
            yield one(sec, "name").decode() if isinstance(
                one(sec, "name"), bytes) else one(sec, "name"), t


def text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v


def main(argv):
    binary, vectors = argv[1], argv[2]
    run_all = "--all" in argv
    results = {}  # (file, section) -> [pass, fail, [failures]]
    jobs = []
    for fname in sorted(os.listdir(vectors)):
        if not fname.endswith(".textproto"):
            continue
        claimed = CLAIMED.get(fname, [])
        for section, t in load_cases(os.path.join(vectors, fname)):
            section = text(section)
            if section not in claimed and not run_all:
                continue
            jobs.append((fname, section, t))
    lines = [("U:" if one(t, "disable_check") == "true" else "C:") +
             text(one(t, "expr")).encode("utf-8").hex() + "\n"
             for _, _, t in jobs]
    proc = subprocess.run([binary], input="".join(lines),
        capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        print("runner exited %d: %s" % (proc.returncode, proc.stderr))
        return 1
    outs = proc.stdout.splitlines()
    if len(outs) != len(jobs):
        print("runner gave %d lines for %d cases" % (len(outs), len(jobs)))
        return 1
    seen_skips = set()
    for (fname, section, t), out in zip(jobs, outs):
        r = results.setdefault((fname, section), [0, 0, []])
        name = text(one(t, "name"))
        got = json.loads(out)
        why = None
        skip = skipped_case(fname, section, name)
        if skip:
            seen_skips.add((fname, section, name))
            print("SKIP %s %s %s: %s" % (fname, section, name, skip))
            continue
        if "bindings" in t or "type_env" in t:
            why = "binds variables"
        elif "eval_error" in t:
            # gwf's checker may refuse at config time what a checked CEL
            # refuses only when evaluating (a type with no overload): an
            # error either way.
            if "error" not in got and "compile_error" not in got:
                why = "expected an evaluation error, got %s" % out
        elif "value" in t:
            try:
                want = expected_value(one(t, "value"))
            except Unsupported as e:
                want, why = None, "unsupported expected %s" % e
            if want is not None:
                if "t" not in got:
                    why = "expected %r, got %s" % (want, out)
                elif not same(want, got_value(got)):
                    why = "expected %r, got %r" % (want, got_value(got))
        else:
            why = "a case kind the runner does not read"
        if why:
            r[1] += 1
            r[2].append("%s: %s: %s" % (name, text(one(t, "expr")), why))
        else:
            r[0] += 1
    failed = 0
    for (fname, section), (ok, bad, fails) in sorted(results.items()):
        claimed = section in CLAIMED.get(fname, [])
        print("%-4s %s %s: %d passed, %d failed" % (
            "RUN" if claimed else "info", fname, section, ok, bad))
        if claimed and bad:
            failed += bad
            for f in fails:
                print("    FAIL " + f)
        elif run_all and bad:
            for f in fails[:50]:
                print("    (skipped section) " + f)
    for fname, secs in CLAIMED.items():
        for s in secs:
            if (fname, s) not in results:
                print("claimed section %s %s has no cases" % (fname, s))
                failed += 1
    for (fname, section), cases in SKIPPED_CASES.items():
        for names in cases:
            for n in names.split(","):
                if (fname, section, n.strip()) not in seen_skips:
                    print("skipped case %s %s %s does not exist" % (
                        fname, section, n.strip()))
                    failed += 1
    for fname, secs in sorted(SKIPPED.items()):
        for names, why in secs.items():
            print("SKIP %s %s: %s" % (fname, names, why))
    print("%d claimed cases failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
