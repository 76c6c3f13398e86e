"""`koban rule check|test|list`: exit codes, the --json result lines, FILE:LINE reports, the
detect.placeholders of -c, and every SigmaHQ rule of ../shared/data/sigma (outside
unsupported/) loading."""
import json
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import SHARED, Suite, json_lines, rule_files, run, tempdir, write_file  # noqa: E402

SIGMA = os.path.join(SHARED, "sigma")
ACTIVE = ["rules", "rules-compliance", "rules-emerging-threats", "rules-placeholder",
          "rules-threat-hunting"]

RULES = """title: Account locked out
id: 0b0b0b0b-0000-4000-8000-000000000001
level: medium
author: test
logsource: {product: azure, service: signinlogs}
detection:
  selection:
    ResultType: 50053
  condition: selection
---
title: Admin role given
name: admin_role
logsource: {product: azure, service: auditlogs}
detection:
  selection:
    TargetResources.ModifiedProperties.NewValue|contains: 'Global Administrator'
  filter:
    initiatedBy.user: 'break-glass@example.org'
  condition: selection and not filter
---
title: Keyword
detection:
  keywords: ['mimikatz']
  condition: keywords
"""

EVENTS = [
    {"@timestamp": "2026-03-15T03:00:00Z", "ResultType": "50053", "user": "a"},
    {"ResultType": 50053},
    {"TargetResources": [{"ModifiedProperties": [{"NewValue": "\"Global Administrator\""}]}],
     "initiatedBy": {"user": "alice@example.org"}},
    {"TargetResources": [{"ModifiedProperties": [{"NewValue": "Global Administrator"}]}],
     "initiatedBy": {"user": "break-glass@example.org"}},
    {"message": "ran MimiKatz.exe"},
    {"ResultType": "0"},
]


def events_file(d, events, extra=""):
    return write_file(d, "events.jsonl", "".join(json.dumps(e) + "\n" for e in events) + extra)


def test_rule_test_json():
    d = tempdir()
    try:
        write_file(d, "rules.yml", RULES)
        events_file(d, EVENTS)
        rc, out, err = run(["rule", "test", "--json", "rules.yml", "events.jsonl"], d)
        got = json_lines(out)
        assert got == [
            {"rule": "0b0b0b0b-0000-4000-8000-000000000001", "title": "Account locked out",
             "line": 1},
            {"rule": "0b0b0b0b-0000-4000-8000-000000000001", "title": "Account locked out",
             "line": 2},
            {"rule": "admin_role", "title": "Admin role given", "line": 3},
            {"rule": "rules.yml:21", "title": "Keyword", "line": 5},
        ], got
        # the pinned key order and spacing
        assert out.splitlines()[0] == ('{"rule": "0b0b0b0b-0000-4000-8000-000000000001", '
                                       '"title": "Account locked out", "line": 1}'), out
        # without --json: one human line per match
        rc, out, err = run(["rule", "test", "rules.yml", "events.jsonl"], d)
        assert len(out.splitlines()) == 4 and "events.jsonl:3: admin_role" in out, out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_rule_test_exit_codes():
    d = tempdir()
    try:
        write_file(d, "rules.yml", RULES)
        write_file(d, "bad.yml", "title: bad\ndetection:\n  sel: {a|nope: 1}\n  condition: sel\n")
        events_file(d, EVENTS[:1], "{not json\n")
        # an unreadable event line: reported, the rest still runs, exit 1
        rc, out, err = run(["rule", "test", "--json", "rules.yml", "events.jsonl"], d, check=False)
        assert rc == 1 and "events.jsonl:2: " in err, (rc, err)
        assert [json.loads(x)["line"] for x in out.splitlines()] == [1], out
        # a rejected rule: FILE:LINE: reason on stderr, the other rules still run, exit 1
        events_file(d, EVENTS[:1])
        rc, out, err = run(["rule", "test", "--json", "bad.yml", "rules.yml", "events.jsonl"], d,
                           check=False)
        assert rc == 1 and "bad.yml:3: bad.yml:1: a|nope: unknown modifier 'nope'" in err, err
        assert len(out.splitlines()) == 1, out
        # usage errors
        rc, out, err = run(["rule", "test", "events.jsonl"], d, check=False)
        assert rc == 2, (rc, err)
        rc, out, err = run(["rule", "frobnicate"], d, check=False)
        assert rc == 2, (rc, err)
        rc, out, err = run(["rule", "check"], d, check=False)
        assert rc == 2, (rc, err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_rule_test_raw_logs():
    """--format F: raw lines decoded as `koban parse --format F` does, then matched."""
    d = tempdir()
    try:
        write_file(d, "ssh.yml", "title: ssh failure\nid: s1\ndetection:\n  sel:\n"
                   "    process.name: sshd\n  kw: ['Failed password']\n  condition: sel and kw\n")
        write_file(d, "raw.log", "<38>Mar 14 23:00:00 host sshd[12]: Failed password for root\n"
                   "<38>Mar 14 23:00:01 host sshd[12]: Accepted password for root\n"
                   "<38>Mar 14 23:00:02 host sshd[12]: Failed password for bob\n")
        rc, out, err = run(["rule", "test", "--json", "--format", "syslog", "ssh.yml",
                            "raw.log"], d)
        assert [json.loads(x)["line"] for x in out.splitlines()] == [1, 3], out
        rc, out, err = run(["rule", "test", "--format", "nope", "ssh.yml", "raw.log"], d,
                           check=False)
        assert rc == 2 and "format 'nope'" in err, (rc, err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_rule_check():
    d = tempdir()
    try:
        os.mkdir(os.path.join(d, "rules"))
        write_file(d, "rules/a.yml", RULES)
        write_file(d, "rules/b.yaml",
                   "title: x\nlevel: severe\ndetection:\n  s: {a: 1}\n  condition: s\n"
                   "---\ntitle: c\ncorrelation: {type: event_count, rules: [admin_role], "
                   "timespan: 5m, condition: {gte: 3}}\n")
        write_file(d, "rules/ignored.txt", "not a rule")
        rc, out, err = run(["rule", "check", "rules"], d, check=False)
        lines = out.splitlines()
        assert rc == 1, (rc, out, err)
        # admin_role names a field no map of azure auditlogs knows: rejected at load, and
        # the correlation over it with it
        assert lines[-1] == "2 rules, 1 correlations, 0 filters, 3 rejected", out
        assert 'rules/a.yml:18: admin_role: field "initiatedBy.user" is unknown' in out, out
        assert "rules/b.yaml:2: rules/b.yaml:1: level: expected informational" in out, out
        assert "rules/b.yaml:7: correlation: c: rule admin_role not found" in out, out
        write_file(d, "ok.yml", "\n---\n".join(RULES.split("---\n")[0::2]))
        rc, out, err = run(["rule", "check", "ok.yml"], d)
        assert out.splitlines() == ["2 rules, 0 correlations, 0 filters, 0 rejected"], out
        rc, out, err = run(["rule", "check", "missing.yml"], d, check=False)
        assert rc == 1 and "missing.yml" in err, (rc, err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_placeholders_from_config():
    d = tempdir()
    try:
        write_file(d, "koban.yaml", "detect:\n  placeholders:\n    Admins: [root, 'adm-*']\n")
        write_file(d, "p.yml", "title: p\nid: p1\ndetection:\n  s:\n    user|expand: '%Admins%'\n"
                   "  condition: s\n")
        events_file(d, [{"user": "root"}, {"user": "adm-bob"}, {"user": "bob"}])
        rc, out, err = run(["rule", "test", "--json", "-c", "koban.yaml", "p.yml",
                            "events.jsonl"], d)
        assert [json.loads(x)["line"] for x in out.splitlines()] == [1, 2], out
        rc, out, err = run(["rule", "test", "--json", "p.yml", "events.jsonl"], d, check=False)
        assert rc == 1 and "placeholder %Admins% has no values" in err, err
        # a rule detect.disable names is still compiled (a tenant may enable it), and
        # raises nothing where no tenant does
        write_file(d, "off.yaml", "detect:\n  disable: [p1]\n  placeholders:\n    Admins: [root]\n")
        rc, out, err = run(["rule", "check", "-c", "off.yaml", "p.yml"], d)
        assert out.splitlines() == ["1 rules, 0 correlations, 0 filters, 0 rejected"], out
        rc, out, err = run(["rule", "test", "--json", "-c", "off.yaml", "p.yml", "events.jsonl"], d)
        assert out == "", out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_rule_list():
    d = tempdir()
    try:
        write_file(d, "rules.yml", RULES)
        rc, out, err = run(["rule", "list", "--json", "rules.yml"], d)
        # the bundled rules (rules/sigma/) come first, then the files given
        got = json_lines(out)
        assert {g["file"] for g in got if g["file"] != "rules.yml"} == \
            {g["file"] for g in got if g["file"].startswith("rules/sigma/")}, got
        got = [g for g in got if g["file"] == "rules.yml"]
        assert got[0] == {"id": "0b0b0b0b-0000-4000-8000-000000000001",
                          "title": "Account locked out", "level": "medium",
                          "logsource": {"product": "azure", "service": "signinlogs"},
                          "status": "", "file": "rules.yml"}, got[0]
        assert [g["id"] for g in got] == ["0b0b0b0b-0000-4000-8000-000000000001", "admin_role",
                                          "rules.yml:21"], got
        rc, out, err = run(["rule", "list", "rules.yml"], d)
        assert len([x for x in out.splitlines() if x.endswith("\trules.yml")]) == 3, out
    finally:
        shutil.rmtree(d, ignore_errors=True)


def placeholder_names(roots):
    """Every %name% in the rule files under roots (the expand values among them)."""
    names = set()
    for path in rule_files(roots):
        with open(path, encoding="utf-8") as f:
            names.update(re.findall(r"%([A-Za-z0-9_.-]+)%", f.read()))
    return sorted(names)


def test_sigmahq_corpus_placeholders():
    """Without values for the placeholders, exactly the SigmaHQ rules that use them are
    rejected (besides those naming fields koban does not have). That the corpus loads with
    values is test_sigma.py's test_rule_check_sigma_corpus."""
    d = tempdir()
    try:
        dirs = [os.path.join(SIGMA, x) for x in ACTIVE if os.path.isdir(os.path.join(SIGMA, x))]
        assert placeholder_names(dirs), "no placeholders found"
        rc, out, err = run(["rule", "check"] + dirs, d, check=False)
        rejected = [x for x in out.splitlines()[:-1]
                    if "placeholder %" in x or "has no counterpart in koban's" in x]
        assert any("placeholder %" in x for x in rejected), out[-3000:]
        assert rc == 1 and len(rejected) == len(out.splitlines()) - 1, out[-3000:]
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_rule_test_json)
    s.run(test_rule_test_exit_codes)
    s.run(test_rule_test_raw_logs)
    s.run(test_rule_check)
    s.run(test_placeholders_from_config)
    s.run(test_rule_list)
    s.run_with_path(SIGMA, test_sigmahq_corpus_placeholders)
    s.done()
