"""Reads cases as JSON on stdin, answers scipy.stats.mannwhitneyu for each on stdout.

Each case: {"x": [...], "y": [...], "alternative": "two-sided"|"greater"|"less",
"method": "exact"|"asymptotic"|"auto"}. Answer per case: {"u": U of x, "p": p-value}.
Used by scipy.test.ts to check src/stats/mann-whitney.ts.
"""

import json
import sys

from scipy.stats import mannwhitneyu

cases = json.load(sys.stdin)
answers = []
for case in cases:
    result = mannwhitneyu(
        case["x"], case["y"], alternative=case["alternative"], method=case["method"]
    )
    answers.append({"u": float(result.statistic), "p": float(result.pvalue)})
json.dump(answers, sys.stdout)
