// The reconciler's side of webhooks against a real local gate service.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type GateServer, startGateServer } from "../../test/support/gate-server.ts";
import type { Canary } from "../api/canary.ts";
import { callRequestedHooks, sendEventHooks } from "./dispatch.ts";

let gates: GateServer;
beforeAll(async () => {
  gates = await startGateServer();
});
afterAll(() => gates.close());

const logger = pino({ level: "silent" });
const canaryWith = (webhooks: NonNullable<Canary["spec"]["analysis"]["webhooks"]>): Canary =>
  ({
    apiVersion: "kanaria.dev/v1alpha1",
    kind: "Canary",
    metadata: { name: "podinfo", namespace: "test" },
    spec: {
      targetRef: { name: "podinfo" },
      service: { port: 80 },
      analysis: { iterations: 1, webhooks },
    },
  }) as Canary;

describe("dispatch", () => {
  it("calls the hooks decide asked for with the phase it named and returns their answers", async () => {
    gates.set("/gate", "no");
    const canary = canaryWith([{ name: "gate", type: "confirm-promotion", url: gates.url("/gate") }]);
    const answers = await callRequestedHooks(
      canary,
      { lastAppliedSpec: "rev-b" },
      [{ name: "gate", type: "confirm-promotion", phase: "WaitingPromotion" }],
      logger,
    );
    expect(answers).toEqual([
      {
        name: "gate",
        type: "confirm-promotion",
        result: "fail",
        code: 403,
        message: "403 Forbidden: gate closed",
      },
    ]);
    expect(gates.requests("/gate")[0]?.body).toMatchObject({
      phase: "WaitingPromotion",
      type: "confirm-promotion",
    });
  });

  it("answers error for a hook that is no longer in the spec", async () => {
    const answers = await callRequestedHooks(
      canaryWith([]),
      {},
      [{ name: "gone", type: "rollout", phase: "Progressing" }],
      logger,
    );
    expect(answers[0]).toMatchObject({ result: "error" });
  });

  it("sends each event to the event hooks with Flagger's metadata, hook metadata not overriding it", async () => {
    gates.set("/events", "yes");
    const canary = canaryWith([
      {
        name: "events",
        type: "event",
        url: gates.url("/events"),
        metadata: { team: "web", eventType: "spoofed" },
      },
    ]);
    sendEventHooks(
      canary,
      { phase: "Progressing" },
      [{ type: "Warning", reason: "CheckFailed", message: "Halt" }],
      logger,
    );
    const [received] = await new Promise<ReturnType<GateServer["requests"]>>((resolve) => {
      const poll = () =>
        gates.requests("/events").length > 0 ? resolve(gates.requests("/events")) : setTimeout(poll, 20);
      poll();
    });
    expect(received?.body).toMatchObject({
      name: "podinfo",
      namespace: "test",
      phase: "Progressing",
      type: "event",
      metadata: {
        team: "web",
        eventType: "Warning",
        eventMessage: "Halt",
        timestamp: expect.stringMatching(/^\d+$/),
      },
    });
  });
});
