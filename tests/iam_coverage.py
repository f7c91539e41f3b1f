"""Least privilege the other way round: every action a function's role is granted
(cdk/iam-policies.json, the synthesized template's policies) must have been used by that function
somewhere in the test suite, the demo or the binaries' smoke test (the local IAM logs each
(function, action) it allowed under target/iam-exercised/), or carry a reason in
cdk/lib/permissions.ts NOT_EXERCISED_LOCALLY. A reason for an action that was used is stale and
fails too. run-tests.sh runs this after everything else.

Usage: iam_coverage.py [POLICY_FILE] [EXERCISED_DIR]
"""

import glob
import json
import os
import sys


def main() -> int:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    policy_file = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "cdk", "iam-policies.json")
    exercised_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "target", "iam-exercised")
    with open(policy_file, encoding="utf-8") as f:
        policies = json.load(f)
    exercised = set()
    logs = glob.glob(os.path.join(exercised_dir, "*.jsonl"))
    for path in logs:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    entry = json.loads(line)
                    exercised.add((entry["function"], entry["action"]))
    if not logs:
        print(f"iam coverage: no record of exercised permissions in {exercised_dir}: run the tests first", file=sys.stderr)
        return 1

    unexercised, stale, used, justified = [], [], 0, 0
    for function, role in sorted(policies["functions"].items()):
        reasons = policies["notExercisedLocally"].get(function, {})
        granted = sorted({action for statement in role["statements"] for action in statement["Action"]})
        for action in granted:
            was_used = (function, action) in exercised
            if was_used and action in reasons:
                stale.append(f"{function} {action} (has a reason but a test used it: drop the reason)")
            elif was_used:
                used += 1
            elif action in reasons:
                justified += 1
            else:
                unexercised.append(f"{function} {action}")
    for line in unexercised:
        print(f"granted but never used by any test (use it in a test, drop the grant, or say why in permissions.ts): {line}")
    for line in stale:
        print(f"stale reason: {line}")
    print(f"iam coverage: {used} granted actions used by the tests, {justified} with a reason, "
          f"{len(unexercised)} unexplained, {len(stale)} stale reasons")
    return 1 if unexercised or stale else 0


if __name__ == "__main__":
    sys.exit(main())
