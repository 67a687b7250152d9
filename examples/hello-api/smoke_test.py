"""Checks hello-api's answer, as the stage serves it: a greeting from that stage.

Usage: python3 smoke_test.py ANSWER STAGE (run by buildspec-test.yml).
"""

import json
import sys


def check(answer: str, stage: str) -> str:
    """Returns what is wrong with the answer, or an empty string."""
    try:
        body = json.loads(answer)
    except json.JSONDecodeError as e:
        return f"the answer is not JSON ({e}): {answer[:200]!r}"
    if not isinstance(body, dict):
        return f"the answer is not a JSON object: {answer[:200]!r}"
    if body.get("stage") != stage:
        return f"the answer comes from stage {body.get('stage')!r}, not {stage!r}"
    if not str(body.get("message", "")).startswith("Hello"):
        return f"the answer greets nobody: {body.get('message')!r}"
    return ""


if __name__ == "__main__":
    problem = check(*sys.argv[1:3]) if len(sys.argv) == 3 else "usage: smoke_test.py ANSWER STAGE"
    if problem:
        print(f"smoke test FAILED: {problem}")
        sys.exit(1)
    print("smoke test ok")
