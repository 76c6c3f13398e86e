"""Input koban refuses up front: a FIFO or a device as the configuration file (refused at
once, never blocking `serve`), and CIDRs with leading zeros (`10.0.0.0/08`), refused like
a leading zero in an address."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from kobanlib import KOBAN, Suite, run, tempdir  # noqa: E402


def test_fifo_or_device_as_config_refused():
    d = tempdir()
    try:
        fifo = os.path.join(d, "koban.yaml")
        os.mkfifo(fifo)  # no writer: a blocking open would hang here
        for args in (["config", "check", fifo], ["serve", "-c", fifo],
                     ["tenant", "list", "-c", "/dev/zero"]):
            p = subprocess.run([KOBAN] + args, cwd=d, capture_output=True, text=True,
                               timeout=20)
            assert p.returncode == 1, (args, p.returncode, p.stderr)
            assert "not a regular file" in p.stderr, p.stderr
        _, _, err = run(["config", "check", fifo], d, check=False)
        assert "not a regular file (a FIFO)" in err, err
        _, _, err = run(["config", "check", "/dev/null"], d, check=False)
        assert "not a regular file (a device)" in err, err
        assert not os.path.exists(os.path.join(d, "var")), "serve started"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_cidr_with_leading_zero_refused():
    d = tempdir()
    try:
        run(["tenant", "add", "demo"], d)
        for cidr in ("10.0.0.0/08", "010.0.0.0/8", "2001:db8::/032"):
            status, _, err = run(["source", "add", "s", "--tenant", "demo", "--cidr", cidr], d,
                                 check=False)
            assert status != 0 and ("cidr '%s'" % cidr) in err, (cidr, status, err)
        run(["source", "add", "s", "--tenant", "demo", "--cidr", "10.0.0.0/8"], d)
        run(["source", "add", "all", "--tenant", "demo", "--cidr", "0.0.0.0/0"], d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    s = Suite()
    s.run(test_fifo_or_device_as_config_refused)
    s.run(test_cidr_with_leading_zero_refused)
    s.done()
