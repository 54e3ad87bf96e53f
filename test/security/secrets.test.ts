// No secret reaches a log, an Event or a status: distinct secret values go in through every
// credential field (a Prometheus bearer token, basic auth, custom headers, address userinfo in a
// MetricTemplate and in a Canary's metricsServer, CloudWatch keys and session token), the real
// controller process talks to a loopback server that plays Prometheus and CloudWatch and quotes
// every request header in its error bodies, and the test greps what the controller wrote.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KubeObject } from "../../src/kube/types.ts";
import { canaryEvents, getCanary, testClient, waitForPhase } from "../support/canary-observer.ts";
import { useController } from "../support/controller.ts";
import { useNamespace, waitFor } from "../support/k8s.ts";
import { canary, deployment } from "../support/manifests.ts";

const ns = useNamespace("secrets");
const client = testClient();
const controller = useController(ns);

const tag = randomBytes(4).toString("hex");
/** Every value is distinct and tagged, so a hit in the output can only come from that field. */
const SECRETS = {
  bearerToken: `bearer-tok-${tag}`,
  basicUser: `basic-user-${tag}`,
  basicPassword: `basic-pw-${tag}`,
  headerValue: `hdr-key-${tag}`,
  headerAuth: `hdr-auth-${tag}`,
  templateUser: `tpl-user-${tag}`,
  templatePassword: `tpl-pw-${tag}`,
  serverUser: `ms-user-${tag}`,
  serverPassword: `ms-pw-${tag}`,
  awsKeyId: `AKIA${randomBytes(8).toString("hex").toUpperCase()}`,
  awsSecretKey: `aws-secret-${tag}`,
  awsSessionToken: `aws-session-${tag}`,
};
const b64 = (s: string) => Buffer.from(s).toString("base64");
/** What must never appear: each value, its base64 form, and the basic auth pairs as sent on the wire. */
const FORBIDDEN = [
  ...Object.values(SECRETS),
  ...Object.values(SECRETS).map(b64),
  b64(`${SECRETS.basicUser}:${SECRETS.basicPassword}`),
  b64(`${SECRETS.templateUser}:${SECRETS.templatePassword}`),
  b64(`${SECRETS.serverUser}:${SECRETS.serverPassword}`),
];

/**
 * Plays Prometheus (GET /api/v1/query) and CloudWatch (awsQuery POST /). With `online`, the
 * reachability checks (vector(1), ListMetrics) succeed and only real queries fail; otherwise
 * everything fails. Every failure quotes all request headers and the URL, as a careless proxy would.
 */
function echoServer(online: boolean) {
  const headers: IncomingMessage["headers"][] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      headers.push(req.headers);
      const echo = `you sent ${JSON.stringify(req.headers)} to ${req.url}`;
      if (req.method === "POST") return cloudWatch(res, online && body.includes("Action=ListMetrics"), echo);
      const query = new URL(req.url ?? "/", "http://x").searchParams.get("query");
      if (online && query === "vector(1)") {
        return json(res, 200, {
          status: "success",
          data: { resultType: "vector", result: [{ metric: {}, value: [Date.now() / 1000, "1"] }] },
        });
      }
      json(res, 401, { status: "error", errorType: "unauthorized", error: echo });
    });
  });
  return { server, headers };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

const CW_NS = "http://monitoring.amazonaws.com/doc/2010-08-01/";
function cloudWatch(res: ServerResponse, ok: boolean, echo: string): void {
  const xml = ok
    ? `<ListMetricsResponse xmlns="${CW_NS}"><ListMetricsResult><Metrics/></ListMetricsResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></ListMetricsResponse>`
    : `<ErrorResponse xmlns="${CW_NS}"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>${escapeXml(echo)}</Message></Error><RequestId>r2</RequestId></ErrorResponse>`;
  res.writeHead(ok ? 200 : 403, { "Content-Type": "text/xml" }).end(xml);
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const servers = { down: echoServer(false), up: echoServer(true) };
const urls = { down: "", up: "" };

beforeAll(async () => {
  for (const [name, { server }] of Object.entries(servers) as [keyof typeof servers, { server: Server }][]) {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    urls[name] = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const secret = (name: string, data: Record<string, string>) =>
    client.apply({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name, namespace: ns },
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
    } as KubeObject);
  await secret("prom-token", { token: SECRETS.bearerToken });
  await secret("prom-basic", { username: SECRETS.basicUser, password: SECRETS.basicPassword });
  await secret("aws", {
    aws_access_key_id: SECRETS.awsKeyId,
    aws_secret_access_key: SECRETS.awsSecretKey,
    aws_session_token: SECRETS.awsSessionToken,
  });
});

afterAll(async () => {
  for (const { server } of Object.values(servers)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** One MetricTemplate per credential field, all pointing at one echo server. */
async function templates(server: keyof typeof servers): Promise<string[]> {
  const host = urls[server];
  const prom = (name: string, provider: Record<string, unknown>) => ({ name: `${server}-${name}`, provider });
  const specs = [
    prom("bearer", { type: "prometheus", address: `http://${host}`, secretRef: { name: "prom-token" } }),
    prom("basic", { type: "prometheus", address: `http://${host}`, secretRef: { name: "prom-basic" } }),
    prom("headers", {
      type: "prometheus",
      address: `http://${host}`,
      headers: { "X-Api-Key": [SECRETS.headerValue], Authorization: [`ApiKey ${SECRETS.headerAuth}`] },
    }),
    prom("userinfo", {
      type: "prometheus",
      address: `http://${SECRETS.templateUser}:${SECRETS.templatePassword}@${host}`,
    }),
    prom("cloudwatch", {
      type: "cloudwatch",
      address: `http://${host}`,
      region: "us-east-1",
      secretRef: { name: "aws" },
    }),
  ];
  for (const { name, provider } of specs) {
    const query =
      provider.type === "cloudwatch"
        ? JSON.stringify([
            {
              Id: "errors",
              MetricStat: { Metric: { Namespace: "App", MetricName: "Errors" }, Period: 60, Stat: "Sum" },
            },
          ])
        : "sum(rate(http_requests_total[1m]))";
    await client.apply({
      apiVersion: "kanaria.dev/v1alpha1",
      kind: "MetricTemplate",
      metadata: { name, namespace: ns },
      spec: { provider, query },
    } as KubeObject);
  }
  return specs.map((s) => s.name);
}

/** A Canary using every template plus a built-in check through a metricsServer with userinfo. */
async function release(
  name: string,
  server: keyof typeof servers,
  inconclusiveTimeout?: string,
): Promise<void> {
  const names = await templates(server);
  await client.apply(deployment(ns, name, "6.0.0"));
  await client.apply(
    canary(ns, name, {
      provider: "kubernetes",
      metricsServer: `http://${SECRETS.serverUser}:${SECRETS.serverPassword}@${urls[server]}`,
      analysis: {
        interval: "10s",
        iterations: 2,
        threshold: 1,
        ...(inconclusiveTimeout ? { inconclusiveTimeout } : {}),
        metrics: [
          { name: "request-success-rate", thresholdRange: { min: 99 } },
          ...names.map((t) => ({ name: t, templateRef: { name: t }, thresholdRange: { max: 1 } })),
        ],
      },
    }),
  );
  await waitForPhase(client, ns, name, "Initialized");
  // The whole Deployment again with the new tag (a merge patch of containers would drop its ports).
  await client.apply(deployment(ns, name, "6.0.1"));
}

/** Everything the controller wrote about the namespace: its log, the Events, the Canaries' status. */
async function everythingWritten(): Promise<Record<string, string>> {
  const events = await client.list<KubeObject>("v1", "Event", ns);
  const canaries = await client.list<KubeObject>("kanaria.dev/v1alpha1", "Canary", ns);
  // The log is piped through the test process: give the last lines a moment to land.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return {
    log: readFileSync(controller().logFile, "utf8"),
    events: JSON.stringify(events),
    status: JSON.stringify(canaries.map((c) => (c as { status?: unknown }).status)),
  };
}

function expectNoSecrets(written: Record<string, string>): void {
  for (const [where, text] of Object.entries(written)) {
    const leaks = FORBIDDEN.filter((secret) => text.includes(secret));
    expect(leaks, `secrets in the ${where}`).toEqual([]);
  }
}

/** The echo servers did receive every secret: it is the redaction that keeps them out, not a lost header. */
function expectEverySecretSent(server: keyof typeof servers): void {
  const sent = JSON.stringify(servers[server].headers);
  expect(sent).toContain(`Bearer ${SECRETS.bearerToken}`);
  expect(sent).toContain(`Basic ${b64(`${SECRETS.basicUser}:${SECRETS.basicPassword}`)}`);
  expect(sent).toContain(`Basic ${b64(`${SECRETS.templateUser}:${SECRETS.templatePassword}`)}`);
  expect(sent).toContain(`Basic ${b64(`${SECRETS.serverUser}:${SECRETS.serverPassword}`)}`);
  expect(sent).toContain(SECRETS.headerValue);
  expect(sent).toContain(`ApiKey ${SECRETS.headerAuth}`);
  expect(sent).toContain(`Credential=${SECRETS.awsKeyId}/`);
  expect(sent).toContain(SECRETS.awsSessionToken);
}

describe.concurrent("secrets in messages", () => {
  it("keeps them out of the 'metric providers unreachable' message in the log, Events and status", async () => {
    await release("offline", "down");
    const events = await waitFor(() => canaryEvents(client, ns, "offline"), {
      description: "a MetricsUnavailable event naming all six endpoints",
      until: (es) => es.some((e) => e.reason === "MetricsUnavailable"),
      timeoutMs: 60_000,
    });
    const event = events.find((e) => e.reason === "MetricsUnavailable")?.message ?? "";
    expect(event).toMatch(/^holding offline\.\S+ at weight 0: metric providers unreachable: .*\[redacted\]/);
    // The Event's message is cut to 1 KiB; the log has it whole: six probes (one per endpoint and
    // credentials), each quoting the request, each redacted.
    const logged = readFileSync(controller().logFile, "utf8")
      .split("\n")
      .filter((line) => line.includes("holding offline"))
      .map((line) => (JSON.parse(line) as { msg: string }).msg);
    const message = logged[0] ?? "";
    expect(
      message.match(/(prometheus|cloudwatch) at http:\/\/127\.0\.0\.1:\d+( \(secret \S+\))?: /g),
    ).toHaveLength(6);
    expect(message).toContain(`prometheus at http://${urls.down} (secret ${ns}/prom-token): Prometheus at`);
    expect(message).toContain(`cloudwatch at http://${urls.down} (secret ${ns}/aws): CloudWatch at`);
    expect(message).toContain('"authorization":"[redacted]"');
    expect(message).toContain('"x-api-key":"[redacted]"');
    expect(message).toContain('"x-amz-security-token":"[redacted]"');
    const c = await getCanary(client, ns, "offline");
    expect(c.status).toMatchObject({ phase: "Progressing", canaryWeight: 0 });
    expectEverySecretSent("down");
    expectNoSecrets(await everythingWritten());
  });

  it("keeps them out of failed checks, the rollback Event and the conditions", async () => {
    // Provider errors hold the step (never a failed check) until inconclusiveTimeout, then roll back
    // naming them: the rollback Event quotes every error, so every error must be redacted there too.
    await release("failing", "up", "15s");
    const failed = await waitForPhase(client, ns, "failing", "Failed", 90_000);
    const checks = failed.status?.checks ?? [];
    expect(checks.map((c) => c.result)).toEqual(Array(6).fill("error"));
    for (const c of checks) expect(c.message).toContain("[redacted]");
    const rolledBack = (await canaryEvents(client, ns, "failing")).find((e) => e.reason === "RolledBack");
    expect(rolledBack?.message).toMatch(
      /metric checks inconclusive for \d+s \(analysis\.inconclusiveTimeout 15s\), not failed: /,
    );
    expectEverySecretSent("up");
    expectNoSecrets(await everythingWritten());
  });
});
