/**
 * What decide() works on while it decides one tick (the input, the status it builds, the Events it
 * records, what it asks for), and the helpers that change a phase and tell people.
 */
import type { CanarySpec, CanaryStatus, Phase } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { CanaryEvent } from "../api/events.ts";
import type { RouterCapabilities } from "../routers/capabilities.ts";
import type { WebhookCall } from "../webhooks/calls.ts";
import type { Observations } from "./observations.ts";

export interface DecideInput {
  name: string;
  namespace: string;
  generation: number | undefined;
  deleting: boolean;
  spec: CanarySpec;
  status: CanaryStatus;
  resolved: ResolvedCanary;
  /** What the Canary's router can do; a Canary asking for more is blocked before traffic moves. */
  capabilities: RouterCapabilities;
  observed: Observations;
}

export interface Ctx {
  in: DecideInput;
  status: CanaryStatus;
  events: CanaryEvent[];
  message: string;
  requeueAfterMs: number;
  needsChecks: boolean;
  needsPreflight: boolean;
  needsWebhooks: WebhookCall[];
  nowIso: string;
  nowMs: number;
  blocker: Observations["blocker"];
  /** "podinfo.test": how Flagger names objects in messages. */
  target: string;
  primary: string;
}

export function setPhase(ctx: Ctx, phase: Phase, message: string): void {
  if (ctx.status.phase !== phase) ctx.status.lastTransitionTime = ctx.nowIso;
  ctx.status.phase = phase;
  ctx.message = message;
}

export function event(ctx: Ctx, reason: string, message: string, type: CanaryEvent["type"] = "Normal"): void {
  ctx.events.push({ type, reason, message });
}

/** Keeps the phase, says why, and tells people once (the event client folds repeats anyway). */
export function hold(ctx: Ctx, message: string, phase: Phase = ctx.status.phase ?? "Progressing"): void {
  if (ctx.message !== message || ctx.status.phase !== phase) event(ctx, "Waiting", message);
  setPhase(ctx, phase, message);
}
