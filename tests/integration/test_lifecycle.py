"""The event store's life cycle from the command line: keys kept elsewhere (`koban key init`,
the keys: section) and clear errors for a missing or wrong key, retention by whole days
(`koban store retain`), and `koban store stats` with raw against stored bytes."""
import json
import os
import shutil
import stat
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import Suite, run, tempdir  # noqa: E402


def ecs_lines(days, per_day, marker):
    """per_day ECS events on each day of days ("2026-12-01"), one per minute from 00:00."""
    out = []
    for day in days:
        for i in range(per_day):
            ev = {
                "@timestamp": "%sT%02d:%02d:00Z" % (day, i // 60 % 24, i % 60),
                "source": {"ip": "10.0.%d.1" % (i % 20)},
                "event": {"action": "allow",
                          "original": "fw1 allow seq=%d %s %s" % (i, day, marker)},
            }
            out.append(json.dumps(ev))
    return "\n".join(out) + "\n"


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)
    return name


def count(d, tenant, cfg=None):
    args = ["search", "--tenant", tenant, "--json", "| stats count()"]
    if cfg:
        args += ["-c", cfg]
    _, out, _ = run(args, d)
    return json.loads(out)["count"] if out.strip() else 0


def test_key_init_elsewhere():
    d = tempdir()
    media = os.path.join(d, "media")
    try:
        # key init into another directory: made 0700/0600, and the config snippet printed
        _, out, _ = run(["key", "init", "--dir", "media"], d)
        assert "created %s/master.key" % media in out, out
        assert "keys:\n  master: %s/master.key\n  signing: %s/signing.key" % (media, media) in out
        assert stat.S_IMODE(os.stat(media).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(os.path.join(media, "master.key")).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.join(media, "signing.key")).st_mode) == 0o600
        status, _, err = run(["key", "init", "--dir", "media"], d, check=False)
        assert status == 1 and "never replaces keys" in err, err
        cfg = write(d, "koban.yaml", "data_dir: ./var\nkeys:\n  master: %s/master.key\n"
                    "  signing: %s/signing.key\n" % (media, media))

        # the store uses them: no master or signing key in the data directory
        run(["tenant", "add", "city-a"], d)
        write(d, "a.json", ecs_lines(["2026-12-01"], 30, "kilo"))
        run(["ingest", "-c", cfg, "--tenant", "city-a", "--format", "ecs", "a.json"], d)
        keys = sorted(os.listdir(os.path.join(d, "var", "keys")))
        assert "master.key" not in keys and "signing.key" not in keys, keys
        assert count(d, "city-a", cfg) == 30

        # without the configuration: a clear error, and no new master key made
        status, _, err = run(["search", "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "no master key, but" in err and "keys.master" in err, err
        assert not os.path.exists(os.path.join(d, "var", "keys", "master.key"))

        # the media is gone: the error names the configuration key and the file
        os.rename(media, media + ".away")
        status, _, err = run(["search", "-c", cfg, "--tenant", "city-a", "*"], d, check=False)
        assert status == 1 and "keys.master: %s/master.key" % media in err, err

        # another installation's master key: refused, never garbage
        run(["key", "init", "--dir", "media"], d)
        status, out, err = run(["search", "-c", cfg, "--tenant", "city-a", "*"], d,
                               check=False)
        assert status == 1 and "not the master key" in err and out == "", (out, err)
        shutil.rmtree(media)
        os.rename(media + ".away", media)
        assert count(d, "city-a", cfg) == 30

        # key init without --dir: DATA_DIR/keys of a fresh data directory
        e = os.path.join(d, "fresh")
        os.mkdir(e)
        _, out, _ = run(["key", "init"], e)
        assert "fresh/var/keys/master.key" in out and "koban uses them" in out, out
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    s = Suite()
    s.run(test_key_init_elsewhere)
    s.done()
