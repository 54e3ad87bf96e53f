import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConnection, readBody } from "./connection.ts";

let dir: string;
let server: Server;
let url: string;
let seen: IncomingHttpHeaders[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kanaria-connection-"));
  server = createServer((req, res) => {
    seen.push(req.headers);
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify({ path: req.url, method: req.method }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

function kubeconfig(name: string, doc: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, stringify({ apiVersion: "v1", kind: "Config", ...doc }));
  return path;
}

const config = (user: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  "current-context": "dev",
  contexts: [{ name: "dev", context: { cluster: "c", user: "me", namespace: "apps" } }],
  clusters: [{ name: "c", cluster: { server: `${url}/` } }],
  users: [{ name: "me", user }],
  ...extra,
});

async function authorizationOf(path: string, env: NodeJS.ProcessEnv = {}): Promise<string | undefined> {
  seen = [];
  const connection = loadConnection(path, env);
  const response = await connection.open({ method: "GET", path: "/api/v1" });
  expect(JSON.parse(await readBody(response.body))).toEqual({ path: "/api/v1", method: "GET" });
  return seen[0]?.authorization;
}

describe("loadConnection", () => {
  it("reads server, namespace and user from the current context, and sends the token", async () => {
    const path = kubeconfig("token.yaml", config({ token: "s3cret" }));
    const connection = loadConnection(path, {});
    expect(connection).toMatchObject({ server: url, namespace: "apps", user: "me" });
    expect(await authorizationOf(path)).toBe("Bearer s3cret");
  });

  it("reads a token file relative to the kubeconfig, and basic auth", async () => {
    mkdirSync(join(dir, "tokens"), { recursive: true });
    writeFileSync(join(dir, "tokens", "t"), "from-file\n");
    expect(await authorizationOf(kubeconfig("tf.yaml", config({ tokenFile: "tokens/t" })))).toBe(
      "Bearer from-file",
    );
    expect(await authorizationOf(kubeconfig("basic.yaml", config({ username: "u", password: "p" })))).toBe(
      `Basic ${Buffer.from("u:p").toString("base64")}`,
    );
  });

  it("merges $KUBECONFIG as kubectl does: the first current-context and the first entry of each name win", async () => {
    const first = kubeconfig("a.yaml", {
      "current-context": "dev",
      contexts: [{ name: "dev", context: { cluster: "c", user: "me" } }],
      users: [{ name: "me", user: { token: "first" } }],
    });
    const second = kubeconfig("b.yaml", {
      ...config({ token: "second" }),
      "current-context": "other",
    });
    const connection = loadConnection(undefined, {
      KUBECONFIG: `${first}:${join(dir, "missing")}:${second}`,
    });
    expect(connection.server).toBe(url);
    expect(connection.namespace).toBeUndefined();
    seen = [];
    await readBody((await connection.open({ method: "GET", path: "/" })).body);
    expect(seen[0]?.authorization).toBe("Bearer first");
  });

  it("runs the user's exec plugin through client-node", async () => {
    const plugin = join(dir, "plugin.sh");
    writeFileSync(
      plugin,
      `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'\n`,
    );
    chmodSync(plugin, 0o755);
    const path = kubeconfig(
      "exec.yaml",
      config(
        { exec: { apiVersion: "client.authentication.k8s.io/v1", command: plugin } },
        // client-node sends exec credentials over plain HTTP only when told TLS is not checked.
        { clusters: [{ name: "c", cluster: { server: url, "insecure-skip-tls-verify": true } }] },
      ),
    );
    expect(await authorizationOf(path)).toBe("Bearer from-exec");
  });

  it("uses the Pod's service account inside a cluster", () => {
    const sa = join(dir, "sa");
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, "ca.crt"), "not parsed until a request");
    writeFileSync(join(sa, "token"), "pod-token");
    writeFileSync(join(sa, "namespace"), "kanaria-system\n");
    const v4 = loadConnection(
      undefined,
      { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" },
      sa,
    );
    expect(v4).toMatchObject({ server: "https://10.0.0.1:443", namespace: "kanaria-system" });
    const v6 = loadConnection(undefined, { KUBERNETES_SERVICE_HOST: "fd00::1" }, sa);
    expect(v6.server).toBe("https://[fd00::1]:443");
  });

  it("names what is missing", () => {
    expect(() => loadConnection(undefined, { HOME: dir, KUBECONFIG: join(dir, "nope") })).toThrow(
      "no kubeconfig found: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config",
    );
    const noCurrent = kubeconfig("nocurrent.yaml", { ...config({}), "current-context": "" });
    expect(() => loadConnection(noCurrent, {})).toThrow(
      `the kubeconfig (${noCurrent}) has no current-context`,
    );
    const noContext = kubeconfig("nocontext.yaml", { ...config({}), "current-context": "prod" });
    expect(() => loadConnection(noContext, {})).toThrow("has no context named prod (current-context)");
    const noServer = kubeconfig("noserver.yaml", { ...config({}), clusters: [{ name: "c", cluster: {} }] });
    expect(() => loadConnection(noServer, {})).toThrow("context dev names cluster c, which has no server");
    writeFileSync(join(dir, "broken.yaml"), "clusters: [");
    expect(() => loadConnection(join(dir, "broken.yaml"), {})).toThrow(
      `kubeconfig ${join(dir, "broken.yaml")}:`,
    );
  });
});
