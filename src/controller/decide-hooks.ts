/**
 * The webhook and gate bookkeeping of decide() (Flagger's semantics), with kanaria promote/abort/retry
 * requests. decide never calls a webhook: it asks for the calls (needsWebhooks) and is called again with
 * the answers, which go into status.webhooks with the revision and step they were for, so a restart
 * neither asks a passed gate again for that step nor skips one.
 */
import type { CanaryWebhook, WebhookType } from "../api/canary.ts";
import { safeUrl } from "../webhooks/caller.ts";
import type { WebhookAnswer } from "../webhooks/calls.ts";
import { type Ctx, event, hold } from "./decide-context.ts";
import { type GateRequest, type RequestKind, requester } from "./requests.ts";

/** Which hooks to ask for one step: `again` ones run every time (load tests, rollback polls). */
export interface HookAsk {
  type: WebhookType;
  step: string;
  again?: boolean;
  /** Any answer counts as done (post-rollout never blocks and is sent once). */
  once?: boolean;
}

function hookType(hook: CanaryWebhook): WebhookType {
  return hook.type ?? "rollout";
}

export function hooksOf(ctx: Ctx, type: WebhookType): CanaryWebhook[] {
  return (ctx.in.spec.analysis.webhooks ?? []).filter((h) => hookType(h) === type);
}

function lastAnswer(ctx: Ctx, hook: CanaryWebhook, step: string) {
  return ctx.status.webhooks?.find(
    (w) =>
      w.name === hook.name &&
      w.type === hookType(hook) &&
      w.revision === ctx.status.lastAppliedSpec &&
      w.step === step,
  );
}

/** Hooks of a gate type that have not said yes for this revision and step. */
export function pendingGates(ctx: Ctx, type: WebhookType, step: string): CanaryWebhook[] {
  return hooksOf(ctx, type).filter((h) => lastAnswer(ctx, h, step)?.result !== "pass");
}

/**
 * The answers to the hooks `asks` needs now, recorded in the status with an Event each; undefined
 * after asking for the ones not answered yet.
 */
export function askHooks(ctx: Ctx, asks: HookAsk[]): WebhookAnswer[] | undefined {
  const wanted = asks.flatMap((a) =>
    hooksOf(ctx, a.type)
      .filter((h) => {
        if (a.again) return true;
        const last = lastAnswer(ctx, h, a.step);
        return a.once ? last === undefined : last?.result !== "pass";
      })
      .map((hook) => ({ hook, step: a.step })),
  );
  const answers = ctx.in.observed.webhooks ?? [];
  const answerOf = (h: CanaryWebhook) => answers.find((a) => a.name === h.name && a.type === hookType(h));
  const missing = wanted.filter((w) => answerOf(w.hook) === undefined);
  if (missing.length > 0) {
    const phase = ctx.status.phase ?? "Progressing";
    ctx.needsWebhooks.push(...missing.map((w) => ({ name: w.hook.name, type: hookType(w.hook), phase })));
    ctx.requeueAfterMs = 0;
    return undefined;
  }
  return wanted.map(({ hook, step }) => {
    const answer = answerOf(hook) as WebhookAnswer;
    recordAnswer(ctx, hook, answer, step);
    return answer;
  });
}

function recordAnswer(ctx: Ctx, hook: CanaryWebhook, answer: WebhookAnswer, step: string): void {
  const type = hookType(hook);
  const others = (ctx.status.webhooks ?? []).filter((w) => !(w.name === hook.name && w.type === type));
  ctx.status.webhooks = [
    ...others,
    {
      name: hook.name,
      type,
      result: answer.result,
      ...(answer.code !== undefined ? { code: answer.code } : {}),
      message: answer.message,
      time: ctx.nowIso,
      ...(ctx.status.lastAppliedSpec ? { revision: ctx.status.lastAppliedSpec } : {}),
      step,
    },
  ];
  // A rollback hook that does not answer 2xx is the normal case, not a warning.
  const bad = answer.result !== "pass" && type !== "rollback";
  const verdict =
    answer.result === "pass" ? "passed" : answer.result === "fail" ? "failed" : "did not answer";
  ctx.events.push({
    type: bad ? "Warning" : "Normal",
    reason: answer.result === "pass" ? "WebhookPassed" : "WebhookFailed",
    message: `${type} webhook ${hook.name} (${safeUrl(hook.url)}) ${verdict} for ${ctx.target} at ${step}: ${answer.message}`,
    ...(bad && hook.muteAlert ? { muteAlert: true } : {}),
  });
}

function describeHook(answer: { name: string; type: WebhookType; message: string }): string {
  return `${answer.type} webhook ${answer.name}: ${answer.message}`;
}

export function hookFailures(answers: WebhookAnswer[], type: WebhookType): string[] {
  return answers.filter((a) => a.type === type && a.result !== "pass").map(describeHook);
}

/** The step being judged is the last one: promotion follows if it passes. */
function finalStep(ctx: Ctx): boolean {
  const { resolved } = ctx.in;
  if (resolved.strategy !== "canary") return (ctx.status.iterations ?? 0) + 1 >= resolved.iterations;
  const current = ctx.status.canaryWeight ?? 0;
  return current >= resolved.maxWeight || !resolved.stepWeights.some((w) => w > current);
}

function stepName(ctx: Ctx): string {
  return ctx.in.resolved.strategy === "canary"
    ? `weight ${ctx.status.canaryWeight ?? 0}`
    : `iteration ${(ctx.status.iterations ?? 0) + 1}`;
}

function nextWeight(ctx: Ctx): number | undefined {
  const current = ctx.status.canaryWeight ?? 0;
  return ctx.in.resolved.stepWeights.find((w) => w > current);
}

/** The hooks of one analysis step: rollout and rollback each time, and the gate that comes next. */
export function stepHooks(ctx: Ctx): HookAsk[] {
  const step = stepName(ctx);
  const asks: HookAsk[] = [
    { type: "rollout", step, again: true },
    { type: "rollback", step, again: true },
  ];
  if (finalStep(ctx) || ctx.status.phase === "WaitingPromotion")
    asks.push({ type: "confirm-promotion", step: "promotion" });
  else if (ctx.in.resolved.strategy === "canary")
    asks.push({ type: "confirm-traffic-increase", step: `weight ${nextWeight(ctx)}` });
  return asks;
}

/** A gate that said no is asked again only after analysis.interval (from the status: restart-safe). */
export function askedRecently(ctx: Ctx, types: WebhookType[]): boolean {
  const times = (ctx.status.webhooks ?? [])
    .filter((w) => types.includes(w.type) && w.revision === ctx.status.lastAppliedSpec)
    .map((w) => Date.parse(w.time));
  if (times.length === 0) return false;
  const dueInMs = Math.max(...times) + ctx.in.resolved.intervalMs - ctx.nowMs;
  if (dueInMs <= 0) return false;
  ctx.requeueAfterMs = dueInMs;
  return true;
}

export function trafficIncreaseConfirmed(ctx: Ctx, next: number): boolean {
  const pending = pendingGates(ctx, "confirm-traffic-increase", `weight ${next}`);
  if (pending.length === 0 || approved(ctx)) return true;
  hold(
    ctx,
    `holding ${ctx.target} at weight ${ctx.status.canaryWeight ?? 0}: weight ${next} waits for approval (${waitingFor(ctx, pending)})`,
  );
  return false;
}

export function waitingFor(ctx: Ctx, pending: CanaryWebhook[]): string {
  return pending
    .map((h) => {
      const last = ctx.status.webhooks?.find((w) => w.name === h.name && w.type === hookType(h));
      return last && last.revision === ctx.status.lastAppliedSpec
        ? describeHook(last)
        : `${hookType(h)} webhook ${h.name}`;
    })
    .join("; ");
}

/**
 * A request for this revision (see requests.ts); one naming another revision is ignored, with an
 * Event the first time it is seen.
 */
export function request(ctx: Ctx, kind: RequestKind): GateRequest | undefined {
  const r = ctx.in.observed.requests?.[kind];
  if (!r) return undefined;
  if (r.revision === ctx.status.lastAppliedSpec) return r;
  if (!handled(ctx, kind, r)) {
    markHandled(ctx, kind, r);
    event(
      ctx,
      "RequestIgnored",
      `Ignoring kanaria ${kind} ${requester(r)}: it names revision ${r.revision || "(none)"}, ${ctx.target} is at revision ${ctx.status.lastAppliedSpec}`,
      "Warning",
    );
  }
  return undefined;
}

export function handled(ctx: Ctx, kind: RequestKind, r: GateRequest): boolean {
  return ctx.status.requests?.[kind] === r.raw;
}

export function markHandled(ctx: Ctx, kind: RequestKind, r: GateRequest): void {
  ctx.status.requests = { ...ctx.status.requests, [kind]: r.raw };
}

/** kanaria promote for this revision answers yes to its confirm-* gates. */
export function approved(ctx: Ctx): boolean {
  const r = request(ctx, "promote");
  if (!r) return false;
  if (!handled(ctx, "promote", r)) {
    markHandled(ctx, "promote", r);
    event(
      ctx,
      "PromoteRequested",
      `Promotion of ${ctx.target} revision ${r.revision} approved ${requester(r)}`,
    );
  }
  return true;
}
