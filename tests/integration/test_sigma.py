"""The Sigma conformance suite: every case of tests/sigma/cases run through `koban rule test
--json`, and `koban rule check` over the SigmaHQ rules in ../shared/data/sigma.

A case is a folder tests/sigma/cases/NAME/ holding
  rules.yml       the rules (one or several YAML documents)
  events.jsonl    the events, one JSON object per line
  expected.jsonl  the lines `koban rule test --json` must print (compared as parsed JSON, in any
                  order; an empty file: nothing may match)
  config.yml      optional, passed as `-c config.yml` (detect.placeholders for `expand`,
                  detect.correlation.lateness)
  exit            optional, the expected exit status (default 0)
  stderr          optional, one substring per line that stderr must contain
koban runs in the case folder with relative paths, so messages name `rules.yml:LINE` and
`events.jsonl:LINE`. `koban rule check rules.yml` runs too and must agree (one rejected rule
when the stderr file names rules.yml:, none otherwise). docs/detection.md ("Conformance
suite") says what the cases cover.

Run by hand: `python3 tests/integration/test_sigma.py [CASE...]` (KOBAN_BIN names the binary,
./koban by default). While the binary has no `koban rule`, the cases are only checked for being
well formed and the rest is skipped with the reason.
"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import KOBAN, SHARED, Suite, named, rule_command_missing, rule_files  # noqa: E402

CASES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "sigma", "cases"))
CASE_FILES = {"rules.yml", "events.jsonl", "expected.jsonl", "config.yml", "exit", "stderr"}
MATCH_KEYS = ["rule", "title", "line"]
CORRELATION_KEYS = ["rule", "title", "group", "lines"]
# the files each `koban rule` sub-command reads in a case folder
CASE_INPUTS = {"test": ["rules.yml", "events.jsonl"], "check": ["rules.yml"]}
SIGMA = os.path.join(SHARED, "sigma")
# the corpus's `expand` placeholders, with values of the right kind (IPs where a rule compares
# addresses): the rules of rules-placeholder/ load only when every placeholder resolves
CORPUS_CONFIG = os.path.join(os.path.dirname(CASES), "corpus-placeholders.yml")


def read(case, name, default=None):
    path = os.path.join(CASES, case, name)
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return f.read()


def result_line(text, where):
    """One result line (expected or printed): checks its keys and their order, returns it as a
    canonical string so that lists of results compare as multisets."""
    try:
        value = json.loads(text)
    except ValueError as e:
        raise AssertionError("%s: not JSON (%s): %r" % (where, e, text))
    keys = [k for k, _ in json.loads(text, object_pairs_hook=list)] \
        if isinstance(value, dict) else None
    if keys not in (MATCH_KEYS, CORRELATION_KEYS):
        raise AssertionError("%s: keys must be %s or %s: %r" %
                             (where, MATCH_KEYS, CORRELATION_KEYS, text))
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def expected_results(case):
    text = read(case, "expected.jsonl")
    return sorted(result_line(line, "%s/expected.jsonl:%d" % (case, n))
                  for n, line in enumerate(text.splitlines(), 1) if line.strip())


def check_well_formed(case):
    """What a case must hold whatever koban does: its files, and expected lines that name event
    lines which exist."""
    names = set(os.listdir(os.path.join(CASES, case)))
    missing = {"rules.yml", "events.jsonl", "expected.jsonl"} - names
    assert not missing, "missing %s" % sorted(missing)
    assert names <= CASE_FILES, "unknown files %s" % sorted(names - CASE_FILES)
    events = read(case, "events.jsonl").splitlines()
    for line in expected_results(case):
        r = json.loads(line)
        for n in r.get("lines", [r.get("line")]):
            assert isinstance(n, int) and 1 <= n <= len(events), "no event line %r" % n
    int(read(case, "exit", "0"))


def koban_in_case(case, sub, *options):
    """Runs `koban rule SUB OPTIONS [-c config.yml] INPUTS` in the case folder (-c when the case
    has a config.yml; INPUTS from CASE_INPUTS); returns (status, stdout, stderr)."""
    cmd = [KOBAN, "rule", sub] + list(options)
    if read(case, "config.yml") is not None:
        cmd += ["-c", "config.yml"]
    p = subprocess.run(cmd + CASE_INPUTS[sub], cwd=os.path.join(CASES, case),
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def test_problems(case):
    """What differs between `koban rule test --json` and the case's expectations."""
    status, out, err = koban_in_case(case, "test", "--json")
    want_exit = int(read(case, "exit", "0"))
    problems = []
    if status != want_exit:
        problems.append("exit %d, expected %d" % (status, want_exit))
    for want in read(case, "stderr", "").splitlines():
        if want and want not in err:
            problems.append("stderr lacks %r" % want)
    try:
        got = sorted(result_line(line, "stdout line %d" % n)
                     for n, line in enumerate(out.splitlines(), 1) if line.strip())
    except AssertionError as e:
        got = None
        problems.append(str(e))
    want = expected_results(case)
    if got is not None and got != want:
        extra = [g for g in got if g not in want]
        lacking = [w for w in want if w not in got]
        problems.append("results differ: unexpected %s; missing %s" % (extra, lacking))
    return problems, err


def check_problems(case):
    """`koban rule check rules.yml` must agree with `rule test`: a case that expects a rejected
    rule (its stderr file names rules.yml:) exits 1 with `1 rejected`, any other exits 0 with
    `0 rejected`."""
    status, out, err = koban_in_case(case, "check")
    rejects = int("rules.yml:" in read(case, "stderr", ""))
    want = "%d rejected" % rejects
    problems = []
    if status != rejects:
        problems.append("rule check: exit %d, expected %d" % (status, rejects))
    if not re.search(r"\b%s\b" % want, out):
        problems.append("rule check: summary %r, expected %r" % (out.strip().splitlines()[-1:], want))
    return problems, err


def run_case(case):
    problems, err = test_problems(case)
    more, check_err = check_problems(case)
    if problems or more:
        raise AssertionError("; ".join(problems + more) +
                             ("\nstderr of rule test: " + err.strip() if err else "") +
                             ("\nstderr of rule check: " + check_err.strip() if more and check_err
                              else ""))


def corpus_dirs():
    """The SigmaHQ folders that must load (all but unsupported/)."""
    return sorted(os.path.join(SIGMA, d) for d in os.listdir(SIGMA)
                  if os.path.isdir(os.path.join(SIGMA, d)) and d != "unsupported")


def count_documents(dirs):
    """The YAML documents of the *.yml/*.yaml files under dirs (a `---` line separates two)."""
    n = 0
    for path in rule_files(dirs):
        with open(path, encoding="utf-8") as f:
            body = f.read().strip()
        if body.startswith("---"):
            body = body[3:]
        n += 1 + sum(1 for line in body.splitlines() if line.rstrip() == "---")
    return n


def test_rule_check_sigma_corpus():
    """Every SigmaHQ rule outside unsupported/ loads: exit 0 and a summary with all of them."""
    dirs = corpus_dirs()
    p = subprocess.run([KOBAN, "rule", "check", "-c", CORPUS_CONFIG] + dirs,
                       capture_output=True, text=True, timeout=600)
    rejected = [line for line in (p.stdout + p.stderr).splitlines() if ": " in line and
                line.startswith(SIGMA)]
    # The only rules refused are those naming a field for which koban's events have no
    # counterpart: each says why (the reason its field map gives, docs/detection.md).
    other = [line for line in rejected if "has no counterpart in koban's" not in line]
    assert not other and p.returncode == (1 if rejected else 0), \
        "exit %d; %d rejected, first ones:\n%s" % (p.returncode, len(other), "\n".join(other[:20]))
    want = "%d rules, 0 correlations, 0 filters, %d rejected" % \
        (count_documents(dirs) - len(rejected), len(rejected))
    assert want in p.stdout, "summary %r, expected %r" % (p.stdout.strip().splitlines()[-1:], want)


def legacy_pipe_conditions():
    """{path: number of conditions} for the files of unsupported/ whose `condition:` uses the
    legacy pipe syntax (`| count() …`, `| near …`), which spec 2.x replaced by correlations."""
    out = {}
    for path in rule_files([os.path.join(SIGMA, "unsupported")], (".yml",)):
        with open(path, encoding="utf-8") as f:
            n = sum(1 for line in f if line.strip().startswith("condition:") and
                    "|" in line.split("condition:", 1)[1])
        if n:
            out[path] = n
    return out


def test_rule_check_legacy_pipe_rejected():
    """Each rule of unsupported/ with a legacy `condition: … | …` is rejected and named."""
    legacy = legacy_pipe_conditions()
    assert legacy, "no legacy pipe rule found under unsupported/"
    paths = sorted(legacy)
    p = subprocess.run([KOBAN, "rule", "check"] + paths, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 1, "exit %d, expected 1" % p.returncode
    said = p.stdout + p.stderr
    unnamed = [path for path in paths if path + ":" not in said]
    assert not unnamed, "%d not reported, first ones: %s" % (len(unnamed), unnamed[:5])
    # a legacy file may hold more documents (Sigma 1 `action: global` parts), rejected too
    summary = re.search(r"(\d+) rejected", p.stdout)
    assert summary and int(summary.group(1)) >= sum(legacy.values()), \
        "summary %r, expected at least %d rejected" % (p.stdout.strip().splitlines()[-1:],
                                                        sum(legacy.values()))


def main(selected):
    cases = sorted(d for d in os.listdir(CASES) if os.path.isdir(os.path.join(CASES, d)))
    unknown = set(selected) - set(cases)
    if unknown:
        print("FAIL test_sigma: no such case %s" % sorted(unknown))
        sys.exit(1)
    cases = [c for c in cases if c in selected] if selected else cases
    s = Suite()
    for case in cases:
        s.run(named("sigma_case_well_formed/" + case, check_well_formed, case))
    why = rule_command_missing()
    if why:
        print("SKIP sigma_cases: %d cases not run: %s" % (len(cases), why), flush=True)
    else:
        for case in cases:
            s.run(named("sigma/" + case, run_case, case))
    if not selected:
        absent = None if os.path.isdir(SIGMA) else "%s is absent" % SIGMA
        s.run_unless(why or absent, test_rule_check_sigma_corpus)
        s.run_unless(why or absent, test_rule_check_legacy_pipe_rejected)
    s.done()


if __name__ == "__main__":
    main(sys.argv[1:])
