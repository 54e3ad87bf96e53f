/**
 * What the reconciler calls: `record` adds the alerts of a decision's transitions to the status it
 * is about to write (the outbox), `submit` hands the stored Canary to the delivery queue, which
 * sends in the background. A reconcile never waits for a notifier.
 */
import type { Canary, CanaryStatus } from "../api/canary.ts";
import type { ResolvedCanary } from "../api/defaults.ts";
import type { CanaryEvent } from "../api/events.ts";
import type { KubeObject } from "../kube/types.ts";
import type { Workload } from "../workloads/meta.ts";
import type { AlertDeliveryQueue } from "./delivery.ts";
import { type ProviderRef, withAlerts } from "./outbox.ts";

export interface AlertHooks {
  record(input: RecordInput): CanaryStatus;
  submit(stored: KubeObject): void;
}

export interface RecordInput {
  canary: Canary;
  resolved: ResolvedCanary;
  /** What the decision wrote and emitted: the status about to be stored and its events. */
  decision: { status: CanaryStatus; events: CanaryEvent[] };
  target: Workload | undefined;
  primary: Workload | undefined;
  now: Date;
}

export function alertHooks(queue: AlertDeliveryQueue, defaultProvider: ProviderRef | undefined): AlertHooks {
  return {
    record: ({ canary, resolved, decision, target, primary, now }) =>
      withAlerts({
        namespace: canary.metadata.namespace ?? "",
        spec: canary.spec,
        resolved,
        before: canary.status ?? {},
        after: decision.status,
        events: decision.events,
        now,
        images: { canary: imagesOf(target), primary: imagesOf(primary) },
        defaultProvider,
      }),
    submit: (stored) => queue.submit(stored),
  };
}

function imagesOf(deployment: Workload | undefined): string[] {
  return (deployment?.spec?.template?.spec?.containers ?? []).flatMap((c) => (c.image ? [c.image] : []));
}

/** "NAMESPACE/NAME" from --alert-provider; a clear error otherwise. */
export function parseProviderRef(value: string): ProviderRef {
  const [namespace, name, ...rest] = value.split("/");
  if (!namespace || !name || rest.length > 0) {
    throw new Error(
      `--alert-provider must be NAMESPACE/NAME (an AlertProvider), got ${JSON.stringify(value)}`,
    );
  }
  return { namespace, name };
}
