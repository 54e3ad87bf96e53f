/**
 * The delivery queue in the manager process. A reconcile hands it the Canary it just stored and goes
 * on (never awaiting Slack); the queue posts each pending alert to its AlertProvider, retries a
 * failure with exponential backoff for a bounded time, and records the outcome in the Canary's
 * status, so a restart, a resync or another replica never sends it again. A delivery that fails for
 * good becomes a Warning Event and an error in the log, both without the address or token.
 */
import type { Logger } from "pino";
import type { AlertRecord } from "../api/alert-outbox.ts";
import { alertProvider } from "../api/alert-provider.ts";
import type { Canary, CanaryStatus } from "../api/canary.ts";
import { API_VERSION } from "../api/common.ts";
import { ConflictError } from "../kube/errors.ts";
import type { KubeClient, KubeObject, ObjectRef } from "../kube/types.ts";
import { createNotifier } from "./factory.ts";
import type { AlertMessage } from "./message.ts";
import { DeliveryError, type Notifier } from "./notifier.ts";
import { pendingDeliveries } from "./outbox.ts";
import { scrubber } from "./redact.ts";
import type { ProviderSettings } from "./settings.ts";

export interface DeliveryOptions {
  client: KubeClient;
  logger: Logger;
  clusterName?: string | undefined;
  now?: () => Date;
  /** Give up this long after the alert was recorded (default 5 minutes). */
  retryForMs?: number;
  /** First wait between attempts, doubled after each failure up to maxBackoffMs (1 s, 60 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** One attempt's limit (default 10 s). */
  attemptTimeoutMs?: number;
  /** With leader election: a replica that lost the lead stops sending and leaves the rest to the leader. */
  isLeader?: () => boolean;
  /** Builds the Notifier for a provider (tests swap in their own). */
  notifier?: (settings: ProviderSettings) => Notifier;
}

export interface AlertDeliveryQueue {
  /** Starts delivering the pending alerts of a stored Canary; returns at once. */
  submit(stored: KubeObject): void;
  /** Stops retrying (pending alerts stay pending for the next process) and waits for attempts under way. */
  stop(timeoutMs?: number): Promise<void>;
  /** Resolves when nothing is being delivered (for tests). */
  idle(): Promise<void>;
}

interface Outcome {
  state: "delivered" | "failed";
  attempts: number;
  error?: string;
}

const canaryRef = (namespace: string, name: string): ObjectRef => ({
  apiVersion: API_VERSION,
  kind: "Canary",
  namespace,
  name,
});

export function createDeliveryQueue(options: DeliveryOptions): AlertDeliveryQueue {
  const { client, logger } = options;
  const now = options.now ?? (() => new Date());
  const retryForMs = options.retryForMs ?? 5 * 60_000;
  const initialBackoffMs = options.initialBackoffMs ?? 1_000;
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 10_000;
  const notifierFor = options.notifier ?? createNotifier;
  const inFlight = new Map<string, Promise<void>>();
  const stopping = new AbortController();

  async function deliver(canary: Canary & KubeObject, alert: AlertRecord, provider: string): Promise<void> {
    const namespace = canary.metadata.namespace ?? "";
    const log = logger.child({ canary: `${namespace}/${canary.metadata.name}`, alert: alert.id, provider });
    const message: AlertMessage = {
      alert,
      canary: {
        name: canary.metadata.name,
        namespace,
        target: canary.spec?.targetRef?.name ?? canary.metadata.name,
      },
      cluster: options.clusterName,
    };
    // A reconcile may hand over a status read before this alert's outcome was recorded.
    if (!(await stillPending(canary, alert.id, provider))) return;
    const deadline = Date.parse(alert.time) + retryForMs;
    let backoff = initialBackoffMs;
    for (let attempt = 1; ; attempt++) {
      if (options.isLeader && !options.isLeader()) return;
      try {
        const settings = await resolveProvider(client, provider, attemptTimeoutMs);
        await notifierFor(settings).send(message);
        log.info({ kind: alert.kind, attempt }, "alert delivered");
        await record(canary, alert.id, provider, { state: "delivered", attempts: attempt });
        return;
      } catch (err) {
        const error = describeError(err);
        const retryable = !(err instanceof DeliveryError) || err.retryable;
        if (!retryable || now().getTime() + backoff > deadline) {
          await giveUp(canary, alert, provider, attempt, error, log);
          return;
        }
        log.warn({ attempt, error, retryInMs: backoff }, "alert delivery failed; retrying");
        if (!(await sleep(backoff, stopping.signal))) return;
        backoff = Math.min(backoff * 2, maxBackoffMs);
      }
    }
  }

  async function giveUp(
    canary: Canary & KubeObject,
    alert: AlertRecord,
    provider: string,
    attempts: number,
    error: string,
    log: Logger,
  ): Promise<void> {
    const message = `Alert ${alert.kind} (${alert.id}) to AlertProvider ${provider} failed after ${attempts} attempt${
      attempts === 1 ? "" : "s"
    }: ${error}`;
    log.error({ kind: alert.kind, attempts, error }, "alert not delivered");
    await record(canary, alert.id, provider, { state: "failed", attempts, error });
    await client.event({ regarding: canary, type: "Warning", reason: "AlertFailed", message });
  }

  async function stillPending(canary: KubeObject, id: string, provider: string): Promise<boolean> {
    const stored = await client.get<KubeObject & { status?: CanaryStatus }>(
      canaryRef(canary.metadata.namespace ?? "", canary.metadata.name),
    );
    const alert = stored?.status?.alerts?.find((a) => a.id === id);
    return alert?.deliveries.some((d) => d.provider === provider && d.state === "pending") ?? false;
  }

  /** Writes one delivery's outcome into the stored status, re-reading on conflicts with the reconciler. */
  async function record(canary: KubeObject, id: string, provider: string, outcome: Outcome): Promise<void> {
    const ref = canaryRef(canary.metadata.namespace ?? "", canary.metadata.name);
    for (let tries = 0; tries < 10; tries++) {
      const stored = await client.get<KubeObject & { status?: CanaryStatus }>(ref);
      const alerts = stored?.status?.alerts;
      const target = alerts?.find((a) => a.id === id)?.deliveries.find((d) => d.provider === provider);
      if (!stored || !alerts || target?.state !== "pending") return;
      const time = now().toISOString();
      const updated = alerts.map((a) =>
        a.id !== id
          ? a
          : {
              ...a,
              deliveries: a.deliveries.map((d) =>
                d.provider === provider ? { provider, time, ...outcome } : d,
              ),
            },
      );
      try {
        await client.replaceStatus({ ...stored, status: { ...stored.status, alerts: updated } });
        return;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    throw new Error(`could not record the delivery of alert ${id}: the Canary kept changing`);
  }

  return {
    submit(stored) {
      if (stopping.signal.aborted) return;
      const canary = stored as Canary & KubeObject;
      for (const { alert, provider } of pendingDeliveries(canary.status)) {
        const key = `${canary.metadata.namespace}/${canary.metadata.name}/${alert.id}/${provider}`;
        if (inFlight.has(key)) continue;
        const task = deliver(canary, alert, provider)
          .catch((err) =>
            logger.error({ alert: alert.id, provider, error: describeError(err) }, "alert delivery broke"),
          )
          .finally(() => inFlight.delete(key));
        inFlight.set(key, task);
      }
    },
    async stop(timeoutMs = 15_000) {
      stopping.abort();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([Promise.allSettled([...inFlight.values()]), timeout]);
      clearTimeout(timer);
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight.values()]);
    },
  };
}

/** The AlertProvider and its Secret, read at each attempt (a fixed Secret is picked up by the next one). */
export async function resolveProvider(
  client: KubeClient,
  provider: string,
  timeoutMs: number,
): Promise<ProviderSettings> {
  const [namespace = "", name = ""] = provider.split("/");
  const raw = await client.get<KubeObject>({
    apiVersion: API_VERSION,
    kind: "AlertProvider",
    namespace,
    name,
  });
  if (!raw) {
    throw new DeliveryError(
      `AlertProvider ${provider} not found: create it, or fix the Canary's analysis.alerts[].providerRef (or --alert-provider)`,
    );
  }
  const parsed = alertProvider.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new DeliveryError(`AlertProvider ${provider} is invalid: ${problems}`, false);
  }
  const spec = parsed.data.spec;
  let secret: Record<string, string> = {};
  if (spec.secretRef) secret = await readSecret(client, namespace, spec.secretRef.name, provider);
  const address = secret.address ?? spec.address;
  const token = secret.token;
  if (!address && !(spec.type === "slack" && token)) {
    throw new DeliveryError(
      `AlertProvider ${provider}: no address: set spec.address or an \`address\` key in Secret ${namespace}/${spec.secretRef?.name}`,
      false,
    );
  }
  return {
    ref: provider,
    type: spec.type,
    address,
    token,
    channel: spec.channel,
    username: spec.username,
    proxy: spec.proxy,
    timeoutMs,
  };
}

async function readSecret(
  client: KubeClient,
  namespace: string,
  name: string,
  provider: string,
): Promise<Record<string, string>> {
  const secret = await client.get<KubeObject & { data?: Record<string, string> }>({
    apiVersion: "v1",
    kind: "Secret",
    namespace,
    name,
  });
  if (!secret) {
    throw new DeliveryError(
      `Secret ${namespace}/${name} (spec.secretRef of AlertProvider ${provider}) not found`,
    );
  }
  const out: Record<string, string> = {};
  for (const key of ["address", "token"]) {
    const value = secret.data?.[key];
    if (value) out[key] = Buffer.from(value, "base64").toString("utf8").trim();
  }
  return out;
}

const scrub = scrubber([]);

/** DeliveryErrors are already redacted; anything else gets the generic credential scrub. */
function describeError(err: unknown): string {
  if (err instanceof DeliveryError) return err.message;
  return scrub(err instanceof Error ? err.message : String(err));
}

/** Resolves true after ms, false at once when stopping. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
