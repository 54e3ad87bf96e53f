// src/stats/mann-whitney.ts against scipy.stats.mannwhitneyu on fixed samples. The test makes a venv
// with scipy from PyPI once (.kanaria/venv-scipy, reused by later runs) and asks mannwhitneyu.py.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { type Alternative, type Method, mannWhitneyU } from "../../../src/stats/mann-whitney.ts";

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, "../../..");
const venv = join(repoRoot, ".kanaria", "venv-scipy");
const python = join(venv, "bin", "python");
const script = join(import.meta.dirname, "mannwhitneyu.py");

interface Case {
  x: number[];
  y: number[];
  alternative: Alternative;
  method: Method;
}

/** A fixed pseudo-random sequence (LCG), so the samples are the same on every run. */
function sequence(seed: number, n: number, scale: number, offset: number, decimals = 3): number[] {
  let state = seed;
  return Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return Number((offset + (state / 2147483648) * scale).toFixed(decimals));
  });
}

const SAMPLES: [string, number[], number[]][] = [
  ["small, no ties", [1.1, 2.3, 0.7, 5.2, 3.3], [4.1, 6.2, 3.9, 7.7, 5.5, 8.1]],
  ["small, one sample of 3", [12, 15, 11], [9, 10, 8.5, 13, 7, 6]],
  ["ties across samples", [1, 2, 2, 3, 3, 3, 4, 5], [2, 3, 3, 4, 4, 5, 6, 6, 7]],
  ["heavy ties", [0, 0, 0, 1, 1, 1, 1, 2], [0, 1, 1, 1, 2, 2, 2, 2, 2, 3]],
  ["latency-like, 20 vs 20", sequence(7, 20, 40, 100), sequence(11, 20, 40, 120)],
  ["latency-like, 11 vs 30, overlapping", sequence(3, 11, 50, 95), sequence(5, 30, 50, 100)],
  [
    "success rates with ties at 100",
    [100, 100, 99.9, 100, 99.8, 100, 99.95],
    [100, 99.7, 99.9, 99.6, 100, 99.8],
  ],
  ["identical distributions, 40 vs 35", sequence(13, 40, 10, 50, 1), sequence(17, 35, 10, 50, 1)],
];

const CASES: (Case & { label: string })[] = SAMPLES.flatMap(([label, x, y]) =>
  (["two-sided", "greater", "less"] as const).flatMap((alternative) =>
    (["asymptotic", "auto"] as const).map((method) => ({ label, x, y, alternative, method })),
  ),
);
// The exact distribution only for samples without ties (scipy's exact method ignores ties).
const EXACT: (Case & { label: string })[] = SAMPLES.filter(
  ([, x, y]) => new Set([...x, ...y]).size === x.length + y.length,
)
  .filter(([, x, y]) => x.length * y.length <= 600)
  .flatMap(([label, x, y]) =>
    (["two-sided", "greater", "less"] as const).map((alternative) => ({
      label,
      x,
      y,
      alternative,
      method: "exact" as const,
    })),
  );

async function ensureScipy(): Promise<void> {
  if (existsSync(python)) {
    const ok = await run(python, ["-c", "import scipy"]).then(
      () => true,
      () => false,
    );
    if (ok) return;
  }
  await run("python3", ["-m", "venv", venv], { timeout: 120_000 });
  await run(python, ["-m", "pip", "install", "--quiet", "scipy"], { timeout: 600_000 });
}

async function scipyAnswers(cases: Case[]): Promise<{ u: number; p: number }[]> {
  const child = execFile(python, [script], { timeout: 60_000 });
  const out: Buffer[] = [];
  child.stdout?.on("data", (d: Buffer) => out.push(Buffer.from(d)));
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`mannwhitneyu.py exited ${code}`)),
    );
  });
  child.stdin?.end(
    JSON.stringify(cases.map(({ x, y, alternative, method }) => ({ x, y, alternative, method }))),
  );
  await done;
  return JSON.parse(Buffer.concat(out).toString("utf8"));
}

describe("Mann-Whitney U against scipy.stats.mannwhitneyu", () => {
  let answers: { u: number; p: number }[] = [];
  const all = [...CASES, ...EXACT];
  beforeAll(async () => {
    await ensureScipy();
    answers = await scipyAnswers(all);
  }, 700_000);

  it("has a scipy answer for every case", () => {
    expect(answers).toHaveLength(all.length);
    expect(EXACT.length).toBeGreaterThanOrEqual(6);
  });

  it.each(all.map((c, i) => [`${c.label}, ${c.alternative}, ${c.method}`, i] as const))("%s", (_, i) => {
    const c = all[i] as Case;
    const ours = mannWhitneyU(c.x, c.y, { alternative: c.alternative, method: c.method });
    const theirs = answers[i] as { u: number; p: number };
    expect(ours.u).toBeCloseTo(theirs.u, 9);
    expect(Math.abs(ours.pValue - theirs.p)).toBeLessThanOrEqual(1e-9 + 1e-7 * theirs.p);
  });
});
