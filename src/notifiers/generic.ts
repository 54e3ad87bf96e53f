/**
 * The generic webhook: one JSON document per alert (schema in README.md, "Alerts"), with Flagger's
 * fields (name, namespace, phase, metadata.eventMessage/eventType/timestamp) for existing receivers.
 */
import type { AlertRecord, Severity } from "../api/alert-outbox.ts";
import { expectSuccess, postJson } from "./http.ts";
import { type AlertMessage, buildView, type Fact, type NextAction } from "./message.ts";
import { DeliveryError, type Notifier } from "./notifier.ts";
import { redactUrl } from "./redact.ts";
import type { ProviderSettings } from "./settings.ts";

export const GENERIC_SCHEMA_VERSION = "kanaria.dev/alert/v1";

export interface GenericPayload {
  schema: typeof GENERIC_SCHEMA_VERSION;
  id: string;
  kind: AlertRecord["kind"];
  severity: Severity;
  cluster: string | null;
  title: string;
  text: string;
  canary: { name: string; namespace: string; target: string };
  alert: Omit<AlertRecord, "deliveries">;
  facts: Fact[];
  failing: string[];
  nextActions: NextAction[];
  name: string;
  namespace: string;
  phase: string;
  metadata: { eventMessage: string; eventType: "Normal" | "Warning"; timestamp: string };
}

export function genericPayload(message: AlertMessage): GenericPayload {
  const view = buildView(message);
  const { deliveries: _, ...alert } = message.alert;
  return {
    schema: GENERIC_SCHEMA_VERSION,
    id: alert.id,
    kind: alert.kind,
    severity: alert.severity,
    cluster: message.cluster ?? null,
    title: view.title,
    text: view.text,
    canary: message.canary,
    alert,
    facts: view.facts,
    failing: view.failing,
    nextActions: view.nextActions,
    name: message.canary.name,
    namespace: message.canary.namespace,
    phase: alert.phase ?? "",
    metadata: {
      eventMessage: alert.message,
      eventType: alert.severity === "info" ? "Normal" : "Warning",
      timestamp: String(Date.parse(alert.time)),
    },
  };
}

export function genericNotifier(settings: ProviderSettings): Notifier {
  return {
    async send(message: AlertMessage) {
      if (!settings.address)
        throw new DeliveryError(`AlertProvider ${settings.ref}: no webhook address`, false);
      const result = await postJson(settings.address, genericPayload(message), settings);
      expectSuccess(result, `generic webhook ${redactUrl(settings.address)}`);
    },
  };
}
