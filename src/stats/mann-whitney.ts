/**
 * The Mann-Whitney U test (Wilcoxon rank-sum test) of two independent samples, as
 * scipy.stats.mannwhitneyu computes it: U of the first sample, tie-corrected normal approximation
 * with continuity correction, or the exact null distribution for small samples without ties.
 * npm has no well-kept implementation (the packages there have no tie correction and no exact
 * distribution), so it is written here and checked against scipy (test/backtest/stats).
 */
import erfc from "@stdlib/math-base-special-erfc";

/** "greater": the first sample tends to be larger than the second; "less": smaller. */
export type Alternative = "two-sided" | "greater" | "less";
export type Method = "auto" | "exact" | "asymptotic";

export interface MannWhitneyOptions {
  alternative?: Alternative;
  /** "auto" (scipy's rule): exact when a sample has at most 8 values and there are no ties. */
  method?: Method;
  /** Continuity correction of the normal approximation; default true, as in scipy. */
  continuity?: boolean;
}

export interface MannWhitneyResult {
  /** U of the first sample: the number of pairs (x, y) with x > y, ties counting one half. */
  u: number;
  pValue: number;
  method: "exact" | "asymptotic";
}

const EXACT_AUTO_LIMIT = 8;

export function mannWhitneyU(
  x: readonly number[],
  y: readonly number[],
  options: MannWhitneyOptions = {},
): MannWhitneyResult {
  const n1 = x.length;
  const n2 = y.length;
  if (n1 === 0 || n2 === 0) throw new Error("mannWhitneyU needs at least one value in each sample");
  if ([...x, ...y].some((v) => !Number.isFinite(v))) throw new Error("mannWhitneyU needs finite values");
  const alternative = options.alternative ?? "two-sided";
  const { ranks, tieTerm } = rank([...x, ...y]);
  let r1 = 0;
  for (let i = 0; i < n1; i++) r1 += ranks[i] as number;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u2 = n1 * n2 - u1;
  // The statistic whose upper tail is the evidence for the alternative.
  const u = alternative === "greater" ? u1 : alternative === "less" ? u2 : Math.max(u1, u2);
  const method = chooseMethod(options.method ?? "auto", n1, n2, tieTerm > 0);
  const p =
    method === "exact"
      ? exactSurvival(u, n1, n2)
      : normalSurvival(u, n1, n2, tieTerm, options.continuity ?? true);
  const pValue = Math.min(1, Math.max(0, alternative === "two-sided" ? 2 * p : p));
  return { u: u1, pValue, method };
}

function chooseMethod(method: Method, n1: number, n2: number, ties: boolean): "exact" | "asymptotic" {
  if (method !== "auto") return method;
  return Math.min(n1, n2) <= EXACT_AUTO_LIMIT && !ties ? "exact" : "asymptotic";
}

/** Average ranks (1-based) and the tie term sum(t^3 - t) over groups of equal values. */
export function rank(values: readonly number[]): { ranks: number[]; tieTerm: number } {
  const order = values.map((_, i) => i).sort((a, b) => (values[a] as number) - (values[b] as number));
  const ranks = new Array<number>(values.length);
  let tieTerm = 0;
  for (let start = 0; start < order.length; ) {
    let end = start + 1;
    while (end < order.length && values[order[end] as number] === values[order[start] as number]) end++;
    const average = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k] as number] = average;
    const t = end - start;
    tieTerm += t * t * t - t;
    start = end;
  }
  return { ranks, tieTerm };
}

/** P(U >= u) under the null hypothesis, from the tie-corrected normal approximation. */
function normalSurvival(u: number, n1: number, n2: number, tieTerm: number, continuity: boolean): number {
  const n = n1 + n2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  // Every value equal: no evidence either way (scipy answers NaN here).
  if (variance <= 0) return 1;
  const z = (u - mean - (continuity ? 0.5 : 0)) / Math.sqrt(variance);
  return 0.5 * erfc(z / Math.SQRT2);
}

/** P(U >= u) under the null hypothesis without ties: the exact distribution of U. */
function exactSurvival(u: number, n1: number, n2: number): number {
  const counts = uCounts(n1, n2);
  let total = 0;
  let upper = 0;
  const threshold = Math.ceil(u - 1e-9);
  counts.forEach((c, k) => {
    total += c;
    if (k >= threshold) upper += c;
  });
  return upper / total;
}

/**
 * How many of the C(n1+n2, n1) orderings give each U = 0..n1*n2, by the recurrence
 * f(i, j, u) = f(i-1, j, u-j) + f(i, j-1, u): the largest value is either from the first sample
 * (beating all j of the second) or from the second.
 */
function uCounts(n1: number, n2: number): number[] {
  // row[j] holds f(i, j, .) for the current i; f(0, j) and f(i, 0) are [1].
  let row: number[][] = Array.from({ length: n2 + 1 }, () => [1]);
  for (let i = 1; i <= n1; i++) {
    const next: number[][] = [[1]];
    for (let j = 1; j <= n2; j++) {
      const counts = new Array<number>(i * j + 1).fill(0);
      const withoutLargest = next[j - 1] as number[];
      withoutLargest.forEach((c, k) => {
        counts[k] = (counts[k] as number) + c;
      });
      (row[j] as number[]).forEach((c, k) => {
        counts[k + j] = (counts[k + j] as number) + c;
      });
      next.push(counts);
    }
    row = next;
  }
  return row[n2] as number[];
}
