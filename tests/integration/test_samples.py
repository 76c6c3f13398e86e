"""The expected `koban parse` output of every public sample in ../shared/data/samples.

The samples are other people's files and are not copied into the project, so neither is
their output (it holds their values): tests/data/samples/expected lists, per sample file,
the format and time zone it is parsed with and, of the output (`koban parse` at the golden
files' clock, KOBAN_PARSE_NOW), its exit status, its number of events and of pipeline_error
events, and its SHA-256. Any change in any field of any event changes the hash; the test then
writes the new output beside the data directory's temp files and names it, so the change
can be read and, when it is right, taken with KOBAN_UPDATE_GOLDEN=1 (which rewrites the
list). Lines starting with '#' in a .txt sample are its author's notes, not log lines: they
are left out. Skipped when ../shared is absent.

File format, one sample a line: SHA256 STATUS EVENTS ERRORS FORMAT TZ PATH (TZ "-": UTC).
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import DATA, SHARED, Suite, parse, tempdir  # noqa: E402

SAMPLES = os.path.join(SHARED, "samples")
EXPECTED = os.path.join(DATA, "samples", "expected")


def expected():
    with open(EXPECTED) as f:
        rows = [line.split() for line in f if line.strip() and not line.startswith("#")]
    return [dict(zip(("sha256", "status", "events", "errors", "format", "tz", "path"), r))
            for r in rows]


def output_of(row):
    """(status, stdout) of the sample parsed as row says."""
    path = os.path.join(SAMPLES, row["path"])
    tz = None if row["tz"] == "-" else row["tz"]
    args = ["--format", row["format"]] + (["--tz", tz] if tz else [])
    if path.endswith(".txt"):
        with open(path) as f:
            lines = "".join(line for line in f if not line.startswith("#"))
        p = parse(args + ["-"], "/", input=lines, tz=tz)
    else:
        p = parse(args + [path], "/", tz=tz)
    return p.returncode, p.stdout


def summary(status, out):
    events = [json.loads(line) for line in out.splitlines()]
    errors = sum(e.get("event", {}).get("kind") == "pipeline_error" for e in events)
    return (hashlib.sha256(out.encode()).hexdigest(), str(status), str(len(events)),
            str(errors))


def test_every_sample_listed():
    """Each sample file has a line in the list, and each line names a file that exists."""
    files = sorted(os.path.relpath(os.path.join(d, f), SAMPLES)
                   for d, _, fs in os.walk(SAMPLES) for f in fs if f != "README.md")
    assert sorted(r["path"] for r in expected()) == files, files


def test_expected_output():
    rows, changed = expected(), []
    d = tempdir()
    for r in rows:
        status, out = output_of(r)
        got = summary(status, out)
        if got != (r["sha256"], r["status"], r["events"], r["errors"]):
            keep = os.path.join(d, r["path"].replace("/", "_") + ".json")
            with open(keep, "w") as f:
                f.write(out)
            changed.append("%s: sha256 %s status %s events %s errors %s (expected %s %s %s "
                           "%s), the output is in %s" % ((r["path"],) + got + (
                               r["sha256"], r["status"], r["events"], r["errors"], keep)))
        r["sha256"], r["status"], r["events"], r["errors"] = got
    if changed and os.environ.get("KOBAN_UPDATE_GOLDEN") == "1":
        with open(EXPECTED) as f:
            head = [line for line in f if line.startswith("#")]
        with open(EXPECTED, "w") as f:
            f.writelines(head)
            for r in rows:
                f.write(" ".join(r[k] for k in ("sha256", "status", "events", "errors",
                                                 "format", "tz", "path")) + "\n")
        return
    assert not changed, "\n".join(changed)


if __name__ == "__main__":
    s = Suite()
    s.run_with_path(SAMPLES, test_every_sample_listed)
    s.run_with_path(SAMPLES, test_expected_output)
    s.done()
