// How each image version behaves: its success rate and latency distribution, configured per image
// reference (JSON or YAML), with a default for images that have no profile of their own.
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import type { Random } from "./random.ts";

const latencySchema = z
  .object({ p50: z.number().positive(), p99: z.number().positive() })
  .strict()
  .refine((l) => l.p99 >= l.p50, { message: "p99 must be >= p50" });

const profileSchema = z
  .object({
    /** Share of requests answered with a non-5xx status, 0..1. */
    successRate: z.number().min(0).max(1),
    /** Latency quantiles in milliseconds. */
    latencyMs: latencySchema,
  })
  .strict();

const configSchema = z
  .object({
    /** Requests per second; a CLI flag or option overrides it. */
    rps: z.number().min(0).optional(),
    /** Share (0..1) of requests that carry the canary header/cookie when the router matches on one. */
    headerShare: z.number().min(0).max(1).optional(),
    /** Keyed by full image reference, e.g. "ghcr.io/stefanprodan/podinfo:6.0.1". */
    profiles: z.record(z.string(), profileSchema).default({}),
    default: profileSchema.optional(),
  })
  .strict();

export type Profile = z.infer<typeof profileSchema>;
export type SimulatorConfig = z.infer<typeof configSchema>;

/** A healthy, fast service: what an image without a profile (and without a configured default) gets. */
export const DEFAULT_PROFILE: Profile = { successRate: 1, latencyMs: { p50: 20, p99: 80 } };

/** Parses a JSON or YAML (a superset of JSON) simulator config; throws with the offending path. */
export function parseSimulatorConfig(text: string, source = "config"): SimulatorConfig {
  const result = configSchema.safeParse(parse(text));
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`invalid simulator config in ${source}: ${issues.join("; ")}`);
  }
  return result.data;
}

export function loadSimulatorConfig(file: string): SimulatorConfig {
  return parseSimulatorConfig(readFileSync(file, "utf8"), file);
}

/**
 * The profile of a pod: the first of its container images that has a profile (so a sidecar listed
 * first does not hide the app), else the default.
 */
export function profileFor(config: SimulatorConfig, images: readonly string[]): Profile {
  for (const image of images) {
    const profile = config.profiles[image];
    if (profile) return profile;
  }
  return config.default ?? DEFAULT_PROFILE;
}

/** Parameters of a log-normal distribution: ln(latency) ~ Normal(mu, sigma). */
export interface LogNormal {
  mu: number;
  sigma: number;
}

/** z-score of the 99th percentile of the standard normal distribution. */
const Z_P99 = 2.3263478740408408;

/**
 * Fits a log-normal to p50 and p99. Latencies are right-skewed and positive, which a log-normal models
 * with just these two numbers: its median is e^mu, so mu = ln(p50), and its p99 is e^(mu + z99*sigma).
 * A histogram built from its samples then has its p99 bucket where the configured p99 is, so
 * histogram_quantile(0.99, ...) lands in the same bucket as the configured value.
 */
export function fitLogNormal(latencyMs: Profile["latencyMs"]): LogNormal {
  const mu = Math.log(latencyMs.p50);
  return { mu, sigma: (Math.log(latencyMs.p99) - mu) / Z_P99 };
}

export function sampleLatencyMs(model: LogNormal, random: Random): number {
  return Math.exp(model.mu + model.sigma * random.normal());
}
