import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ALERTS, alertMessage } from "../../test/helpers/alerts.ts";
import { useAlertReceiver } from "../../test/support/alert-receiver.ts";
import { ALERT_KINDS, alertRecord } from "../api/alert-outbox.ts";
import { GENERIC_SCHEMA_VERSION, genericNotifier, genericPayload } from "./generic.ts";

/** The schema README.md documents for receivers of the generic webhook. */
const documented = z.strictObject({
  schema: z.literal(GENERIC_SCHEMA_VERSION),
  id: z.string(),
  kind: z.enum(ALERT_KINDS),
  severity: z.enum(["info", "warn", "error"]),
  cluster: z.string().nullable(),
  title: z.string(),
  text: z.string(),
  canary: z.strictObject({ name: z.string(), namespace: z.string(), target: z.string() }),
  alert: alertRecord.omit({ deliveries: true }),
  facts: z.array(z.strictObject({ label: z.string(), value: z.string() })),
  failing: z.array(z.string()),
  nextActions: z.array(z.strictObject({ what: z.string(), command: z.string() })),
  name: z.string(),
  namespace: z.string(),
  phase: z.string(),
  metadata: z.strictObject({
    eventMessage: z.string(),
    eventType: z.enum(["Normal", "Warning"]),
    timestamp: z.string().regex(/^\d+$/),
  }),
});

describe("generic webhook payload", () => {
  it.each(ALERT_KINDS)("a %s alert follows the documented schema", (kind) => {
    const payload = JSON.parse(JSON.stringify(genericPayload(alertMessage(ALERTS[kind]))));
    expect(documented.safeParse(payload).error).toBeUndefined();
  });

  it("carries Flagger's fields for existing receivers and no delivery bookkeeping", () => {
    const payload = genericPayload(alertMessage(ALERTS.RolledBack));
    expect(payload).toMatchObject({
      name: "podinfo",
      namespace: "test",
      phase: "Failed",
      metadata: { eventType: "Warning", eventMessage: ALERTS.RolledBack.message, timestamp: "1767226200000" },
    });
    expect(JSON.stringify(payload)).not.toContain("deliveries");
    expect(payload.alert.checks?.[0]).toMatchObject({ name: "request-success-rate", value: 90.12 });
  });
});

describe("generic webhook delivery", () => {
  const receiver = useAlertReceiver();

  it("posts the JSON document", async () => {
    await genericNotifier({
      ref: "test/hook",
      type: "generic",
      address: receiver().genericWebhook("one"),
      token: undefined,
      channel: undefined,
      username: undefined,
      proxy: undefined,
      timeoutMs: 2_000,
    }).send(alertMessage(ALERTS.NewRevision));
    const [got] = receiver().delivered("/generic/one");
    expect(got?.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(got?.body).toMatchObject({
      schema: GENERIC_SCHEMA_VERSION,
      kind: "NewRevision",
      cluster: "prod-eu-1",
    });
  });
});
