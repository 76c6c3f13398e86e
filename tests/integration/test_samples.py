"""The expected `koban parse` output of every public sample in ../shared/data/samples.

The samples are other people's files and are not copied into the project, so neither is
their output (it holds their values): tests/data/samples/expected lists, per sample file,
the format and time zone it is parsed with, the SHA-256 of the sample itself (a changed
sample is named as such, not taken for a decoder's change) and, of `koban parse` at the
golden files' clock (KOBAN_PARSE_NOW), the SHA-256 of its standard output and of its
standard error, its exit status and its numbers of events and of pipeline_error events. Any
change in any field of any event, or in a message, changes a hash; the test then writes the
new output to a temp file and names it, so the change can be read and, when it is right,
taken with KOBAN_UPDATE_GOLDEN=1 (which rewrites the list). Lines starting with '#' in a
.txt sample are its author's notes, not log lines: they are left out. Skipped when
../shared is absent.

File format, one sample a line (TZ "-": UTC):
  OUT_SHA256 ERR_SHA256 STATUS EVENTS ERRORS FORMAT TZ SAMPLE_SHA256 PATH
"""
import hashlib
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import DATA, SHARED, Suite, parse, tempdir  # noqa: E402

SAMPLES = os.path.join(SHARED, "samples")
EXPECTED = os.path.join(DATA, "samples", "expected")


COLUMNS = ("out", "err", "status", "events", "errors", "format", "tz", "sample", "path")
MEASURED = ("out", "err", "status", "events", "errors")


def expected():
    with open(EXPECTED) as f:
        rows = [line.split() for line in f if line.strip() and not line.startswith("#")]
    return [dict(zip(COLUMNS, r)) for r in rows]


def sha256(text):
    return hashlib.sha256(text.encode()).hexdigest()


def sample_sha256(row):
    with open(os.path.join(SAMPLES, row["path"]), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def output_of(row):
    """The CompletedProcess of the sample parsed as row says."""
    path = os.path.join(SAMPLES, row["path"])
    tz = None if row["tz"] == "-" else row["tz"]
    args = ["--format", row["format"]] + (["--tz", tz] if tz else [])
    if path.endswith(".txt"):
        with open(path) as f:
            lines = "".join(line for line in f if not line.startswith("#"))
        return parse(args + ["-"], "/", input=lines, tz=tz)
    return parse(args + [path], "/", tz=tz)


def measured(p):
    events = [json.loads(line) for line in p.stdout.splitlines()]
    errors = sum(e.get("event", {}).get("kind") == "pipeline_error" for e in events)
    return dict(zip(MEASURED, (sha256(p.stdout), sha256(p.stderr), str(p.returncode),
                               str(len(events)), str(errors))))


def test_every_sample_listed():
    """Each sample file has a line in the list, and each line names a file that exists."""
    files = sorted(os.path.relpath(os.path.join(d, f), SAMPLES)
                   for d, _, fs in os.walk(SAMPLES) for f in fs if f != "README.md")
    assert sorted(r["path"] for r in expected()) == files, files


def test_expected_output():
    rows, changed = expected(), []
    d = tempdir()
    try:
        for r in rows:
            if sample_sha256(r) != r["sample"]:
                changed.append("%s: the sample itself changed (sha256 %s, expected %s)"
                               % (r["path"], sample_sha256(r), r["sample"]))
            p = output_of(r)
            got = measured(p)
            if any(got[k] != r[k] for k in MEASURED):
                keep = os.path.join(d, r["path"].replace("/", "_"))
                for ext, text in ((".json", p.stdout), (".err", p.stderr)):
                    with open(keep + ext, "w") as f:
                        f.write(text)
                changed.append("%s: %s (expected %s); the output is in %s.json and .err"
                               % (r["path"], " ".join(got[k] for k in MEASURED),
                                  " ".join(r[k] for k in MEASURED), keep))
                r.update(got)
        if changed and os.environ.get("KOBAN_UPDATE_GOLDEN") == "1":
            rewrite(rows)
            return
        assert not changed, "\n".join(changed)
    finally:
        if not changed:
            shutil.rmtree(d, ignore_errors=True)


def rewrite(rows):
    """The list with the measured values (and each sample's hash) of rows."""
    with open(EXPECTED) as f:
        head = [line for line in f if line.startswith("#")]
    with open(EXPECTED, "w") as f:
        f.writelines(head)
        for r in rows:
            r["sample"] = sample_sha256(r)
            f.write(" ".join(r[k] for k in COLUMNS) + "\n")


if __name__ == "__main__":
    s = Suite()
    s.run_with_path(SAMPLES, test_every_sample_listed)
    s.run_with_path(SAMPLES, test_expected_output)
    s.done()
