"""Checks that one quality report's output SQNR beats another's.

  compare-sqnr.py BASE/report.json BETTER/report.json MIN_GAIN_DB

Prints both SQNRs; exits 1 unless every output of BETTER is at least
MIN_GAIN_DB above the same output of BASE.
"""
import json
import sys


def output_sqnr(path):
    with open(path) as f:
        return {o["name"]: o["sqnr_db"] for o in json.load(f)["outputs"]}


base, better = output_sqnr(sys.argv[1]), output_sqnr(sys.argv[2])
gain = float(sys.argv[3])
ok = True
for name, sqnr in base.items():
    print("%s: %.2f dB -> %.2f dB" % (name, sqnr, better[name]))
    ok = ok and better[name] >= sqnr + gain
sys.exit(0 if ok else 1)
