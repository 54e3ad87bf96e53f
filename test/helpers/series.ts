// Seeded series for the backtest tests: the same numbers on every run.
import type { Window } from "../../src/backtest/evaluate.ts";

/** mulberry32: a small seeded PRNG. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Normal(mean, sd) per window, one window a minute from `start`. */
export function normalSeries(seed: number, n: number, mean: number, sd: number, start = 0): Window[] {
  const random = seeded(seed);
  return Array.from({ length: n }, (_, i) => {
    const u = 1 - random();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
    return { time: new Date(start + i * 60_000), value: mean + sd * z };
  });
}
