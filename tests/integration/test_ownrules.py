"""koban's own Sigma rules (rules/sigma/) against their test cases (tests/rules/NAME/).

A case is the rule file's stem and holds:
  raw.log         the raw lines (written by hand) in the decoder format named by
  format          (one word: panos, azure, m365, ...)
  events.jsonl    what `koban parse --format F --tz UTC raw.log` prints for them, trimmed to the
                  fields that matter (nested, as koban parse prints them)
  expected.jsonl  the lines `koban rule test --json` must print, written from the rules and the
                  detection semantics in docs/detection.md (compared as parsed JSON, in any order)

Every case runs against the whole rules/sigma/ directory, so a rule that fires on another
case's events is caught too. Three checks per case: events.jsonl still agrees with the
decoder (a renamed field would silently break a rule), the rules on the JSON events (no
logsource: every rule applies), and the rules on the raw lines decoded with --format (the
decoder's logsource and field map, as in `koban serve`). The last two skip while the
binary has no `koban rule`.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import KOBAN, Suite, named, rule_command_missing  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "rules", "sigma")
CASES = os.path.join(ROOT, "tests", "rules")
PARSE_NOW = "2026-03-16T00:00:00Z"


def koban(args, env=None):
    return subprocess.run([KOBAN] + args, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, TZ="UTC", **(env or {})))


def case_names():
    stems = sorted(n[:-4] for n in os.listdir(RULES) if n.endswith(".yml"))
    assert stems, "no rules in %s" % RULES
    return stems


def case_file(name, part):
    return os.path.join(CASES, name, part)


def flat(obj, prefix=""):
    for k, v in obj.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + ".")
        else:
            yield prefix + k, v


def canonical(lines):
    """The JSON objects of lines, each as sorted-key text, sorted: an order-free multiset."""
    return sorted(json.dumps(json.loads(x), sort_keys=True) for x in lines if x.strip())


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def check_events_follow_decoder(name):
    fmt = read_lines(case_file(name, "format"))[0].strip()
    p = koban(["parse", "--format", fmt, "--tz", "UTC", case_file(name, "raw.log")],
              env={"KOBAN_PARSE_NOW": PARSE_NOW})
    assert p.returncode == 0, "koban parse failed (%d): %s" % (p.returncode, p.stderr)
    parsed = p.stdout.splitlines()
    events = read_lines(case_file(name, "events.jsonl"))
    assert len(parsed) == len(events), "%d decoded events, %d in events.jsonl" % (
        len(parsed), len(events))
    for n, (full, trimmed) in enumerate(zip(parsed, events), 1):
        have = dict(flat(json.loads(full)))
        for field, value in flat(json.loads(trimmed)):
            assert have.get(field) == value, "line %d: %s is %r in events.jsonl, %r decoded" % (
                n, field, value, have.get(field))


def check_results(name, args):
    p = koban(["rule", "test", "--json"] + args)
    assert p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr)
    got = canonical(p.stdout.splitlines())
    want = canonical(read_lines(case_file(name, "expected.jsonl")))
    missing = [x for x in want if x not in got]
    extra = [x for x in got if x not in want]
    assert got == want, "%d missing %s; %d unexpected %s" % (
        len(missing), missing[:8], len(extra), extra[:8])


def check_json_events(name):
    check_results(name, [RULES, case_file(name, "events.jsonl")])


def check_raw_logs(name):
    fmt = read_lines(case_file(name, "format"))[0].strip()
    check_results(name, ["--format", fmt, RULES, case_file(name, "raw.log")])


def count_documents():
    """(detection rules, correlations) of rules/sigma by their top-level keys."""
    rules = correlations = 0
    for stem in case_names():
        for line in read_lines(os.path.join(RULES, stem + ".yml")):
            rules += line.startswith("detection:")
            correlations += line.startswith("correlation:")
    return rules, correlations


def test_rule_check():
    """Every bundled rule loads, nothing is unsupported."""
    rules, correlations = count_documents()
    p = koban(["rule", "check", RULES])
    assert p.returncode == 0, "exit %d: %s%s" % (p.returncode, p.stdout, p.stderr)
    summary = "%d rules, %d correlations, 0 filters, 0 rejected" % (rules, correlations)
    assert summary in p.stdout, "expected %r in %r" % (summary, p.stdout)


def test_rule_list_has_the_bundled_rules():
    """`koban rule list` without files shows the bundled rules (embedded, no configuration)."""
    p = koban(["rule", "list", "--json"])
    assert p.returncode == 0, "exit %d: %s" % (p.returncode, p.stderr)
    listed = json.dumps([json.loads(x) for x in p.stdout.splitlines() if x.strip()])
    for stem in case_names():
        for line in read_lines(os.path.join(RULES, stem + ".yml")):
            if line.startswith("id: "):
                assert line[4:].strip() in listed, "%s (%s) is not listed" % (line[4:], stem)


def rule_documents():
    """(id, name, names it chains over) of every document in rules/sigma, by line scanning
    (the test uses no YAML library): top-level `id:`/`name:` and the `- NAME` items under
    a correlation's `rules:`."""
    docs = []
    for stem in case_names():
        with open(os.path.join(RULES, stem + ".yml"), encoding="utf-8") as f:
            text = f.read()
        for doc in text.split("\n---\n"):
            rid = name = None
            refs, in_rules = [], False
            for line in doc.splitlines():
                if line.startswith("id: "):
                    rid = line[4:].strip()
                elif line.startswith("name: "):
                    name = line[6:].strip()
                in_rules = line == "    rules:" or (in_rules and line.startswith("        - "))
                if in_rules and line.startswith("        - "):
                    refs.append(line[10:].strip())
            docs.append((rid, name, refs))
    return docs


def test_cases_cover_every_rule():
    """Every rule that can alert (one no correlation names) fires somewhere in the expected
    results, and every case has events that fire nothing (the negative half)."""
    docs = rule_documents()
    named = {ref for _, _, refs in docs for ref in refs}
    fired, quiet_cases = set(), []
    for case in case_names():
        results = [json.loads(x) for x in read_lines(case_file(case, "expected.jsonl")) if x]
        lines = {r["line"] for r in results if "line" in r}
        lines |= {n for r in results for n in r.get("lines", [])}
        fired |= {r["rule"] for r in results}
        if len(lines) >= len(read_lines(case_file(case, "events.jsonl"))):
            quiet_cases.append(case)
    silent = [name for rid, name, _ in docs if name not in named and rid not in fired]
    assert not silent, "no expected result for %s" % silent
    assert not quiet_cases, "every event of %s fires a rule: add negative events" % quiet_cases


def run_case(suite, why, label, fn, name):
    """One PASS/FAIL/SKIP line per case and check, named after both."""
    suite.run_unless(why, named("%s %s" % (label, name), fn, name))


if __name__ == "__main__":
    s = Suite()
    s.run(test_cases_cover_every_rule)
    missing = rule_command_missing()
    for case in case_names():
        run_case(s, None, "events_follow_decoder", check_events_follow_decoder, case)
    for case in case_names():
        run_case(s, missing, "json_events", check_json_events, case)
        run_case(s, missing, "raw_logs", check_raw_logs, case)
    s.run_unless(missing, test_rule_check)
    s.run_unless(missing, test_rule_list_has_the_bundled_rules)
    s.done()
