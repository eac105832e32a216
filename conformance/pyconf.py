"""conformance/pyconf.py — shared plumbing for the Python conformance scripts.

Standard library only, so both Debian's /usr/bin/python3 (PyKCS11) and the python-pkcs11 venv import it.
  ensure_token(consumer, script, python)  started alone: re-run the script through `lib.sh with-token`
                                          (temp dir, module configuration, fresh token, cleanup)
  Results(consumer, describe)             one "RESULT | consumer | capability | STATUS | detail" line
                                          per check; describe(exception) gives the FAIL detail
  LOAD_MODULE, CONF_RESULT_CONSUMER       the library to load and the consumer name to report, when a
                                          wrapper (p11-kit-proxy.so) loads MODULE for the script
  expect(cond, msg)                       raise CheckFailed(msg) unless cond
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

MODULE = os.environ.get("MODULE", "")
# The library actually loaded: normally MODULE; p11-kit.sh sets CONF_LOAD_MODULE to p11-kit-proxy.so
# (which loads MODULE) and CONF_RESULT_CONSUMER to "p11-kit", so the same checks run through the proxy.
LOAD_MODULE = os.environ.get("CONF_LOAD_MODULE", MODULE)
LABEL = os.environ.get("CONF_TOKEN_LABEL", "conformance")
PIN = os.environ.get("CONF_USER_PIN", "1234")
IS_SOFTHSM = "softhsm" in os.path.basename(MODULE)
TIMEOUT = int(os.environ.get("CONF_TIMEOUT", "120"))


def ensure_token(consumer, script, python=None):
    """Run inside lib.sh's prepared environment: when CONF_READY is not set, re-execute `script` with
    `python` under `bash lib.sh with-token` (which also removes the temp dir afterwards) and exit."""
    if os.environ.get("CONF_READY") == "1":
        return
    env = dict(os.environ, CONF_CONSUMER=consumer)
    cmd = ["bash", os.path.join(HERE, "lib.sh"), "with-token", python or sys.executable,
           os.path.abspath(script)] + sys.argv[1:]
    sys.exit(subprocess.call(cmd, env=env))


class CheckFailed(Exception):
    """A check's own assertion failed (as opposed to an error raised by the library under test)."""


def expect(cond, msg):
    if not cond:
        raise CheckFailed(msg)


class Results:
    """Prints RESULT lines and counts failures."""

    def __init__(self, consumer, describe=None):
        self.consumer = os.environ.get("CONF_RESULT_CONSUMER", consumer)
        self.describe = describe or (lambda e: f"{type(e).__name__}: {e}")
        self.failures = 0

    def result(self, cap, status, detail=""):
        if status == "FAIL":
            self.failures += 1
        # One line without the field separator, whatever the library put in its message.
        detail = " ".join(str(detail).split()).replace(" | ", " / ")
        print(f"RESULT | {self.consumer} | {cap} | {status} | {detail}", flush=True)

    def check(self, cap, fn, *args):
        """PASS if fn returns (a str return value is the detail), FAIL with the reason if it raises."""
        try:
            detail = fn(*args)
        except CheckFailed as e:
            self.result(cap, "FAIL", str(e))
            return False
        except Exception as e:  # every library error becomes a FAIL line and the run continues
            self.result(cap, "FAIL", self.describe(e))
            return False
        self.result(cap, "PASS", detail if isinstance(detail, str) else "")
        return True

    def skip(self, reason, *caps):
        for cap in caps:
            self.result(cap, "SKIP", reason)

    def exit(self):
        sys.exit(1 if self.failures else 0)
