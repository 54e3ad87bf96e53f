import type { CanaryStatus, Phase } from "../../src/api/canary.ts";
import type { ResolvedCanary } from "../../src/api/defaults.ts";
import { desiredState } from "../../src/controller/desired.ts";
import type { RouterCapabilities } from "../../src/routers/capabilities.ts";
import type { Routes } from "../../src/routers/router.ts";

const PHASES: Phase[] = [
  "Initializing",
  "Initialized",
  "Progressing",
  "Promoting",
  "Finalising",
  "Succeeded",
  "Failed",
];

/**
 * Every split desiredState() can ask a router for over one release of this Canary, each once: what a
 * router's round-trip test must read back exactly as written.
 */
export function routesOverRelease(resolved: ResolvedCanary, capabilities: RouterCapabilities): Routes[] {
  // decide() moves weights only where the router can split traffic (blue/green's switch is weight 100).
  const weights = capabilities.weights ? [0, ...resolved.stepWeights, 100] : [0];
  const seen = new Map<string, Routes>();
  for (const phase of PHASES) {
    for (const canaryWeight of weights) {
      for (const lastStepTime of [undefined, "2026-01-01T00:00:00Z"]) {
        const status: CanaryStatus = { phase, canaryWeight, ...(lastStepTime && { lastStepTime }) };
        const routes = desiredState(status, resolved).routes;
        seen.set(JSON.stringify(routes), routes);
      }
    }
  }
  return [...seen.values()];
}
