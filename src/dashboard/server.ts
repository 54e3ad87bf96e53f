/**
 * `kanaria dashboard`'s web server: on 127.0.0.1 only, every request checked (security.ts), the
 * Canaries read and changed with the user's own kubeconfig (nothing runs in the cluster for it, and
 * no credential ever leaves this process: the browser gets rows, details and results only).
 */
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { stripTypeScriptTypes } from "node:module";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Logger } from "pino";
import { backtest } from "../backtest/run.ts";
import { CliError, type Cluster } from "../cli/canaries.ts";
import type { KubeConnection } from "../kube/connection.ts";
import { KubeApiError } from "../kube/errors.ts";
import { kubeLookups } from "../metrics/analysis.ts";
import { createMetricProvider } from "../metrics/factory.ts";
import { redact } from "../security/redact.ts";
import { ACTIONS, act } from "./actions.ts";
import { canaryDetail, type HistoryReader } from "./detail.ts";
import type { Action } from "./facts.ts";
import { LiveCanaries } from "./live.ts";
import { authorize, newSession, type Session, sessionCookie, TOKEN_HEADER } from "./security.ts";
import { STYLE } from "./style.ts";

export interface DashboardOptions {
  connection: KubeConnection;
  cluster: Cluster;
  /** Only this namespace; every namespace when undefined. */
  namespace?: string;
  /** 0: a free port. */
  port: number;
  /** Prometheus address for the built-in metrics (as the controller's --metrics-server). */
  metricsServer?: string;
  logger: Logger;
}

export interface Dashboard {
  /** The URL to open: it carries this session's token. */
  url: string;
  port: number;
  session: Session;
  close(): Promise<void>;
}

const CLIENT_DIR = join(import.meta.dirname, "client");
/** The page's files; nothing else under client/ is served. */
const ASSETS: Record<string, string> = {
  "/assets/app.js": "app",
  "/assets/detail.js": "detail",
  "/assets/parts.js": "parts",
};
const MAX_BODY = 16 * 1024;

export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const live = new LiveCanaries(options.connection, options.namespace, options.logger);
  await live.start();
  const history = historyReader(options);
  let session: Session | undefined;
  const server = createServer((req, res) => {
    if (!session) return void res.writeHead(503).end();
    handle(req, res, session, { ...options, live, history }).catch((err) => {
      options.logger.error({ err }, "dashboard request failed");
      if (!res.headersSent) sendError(res, 500, errorText(err));
      else res.end();
    });
  });
  // Ready before the first page asks: stripping the types is the slow part of a first load.
  await Promise.all(Object.values(ASSETS).map(script));
  const port = await listen(server, options.port);
  session = newSession(port);
  return {
    url: `http://127.0.0.1:${port}/?token=${session.token}`,
    port,
    session,
    async close() {
      server.closeAllConnections();
      await Promise.all([new Promise((resolve) => server.close(resolve)), live.stop()]);
    },
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port));
  });
}

interface Context extends DashboardOptions {
  live: LiveCanaries;
  history: HistoryReader;
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  session: Session,
  ctx: Context,
): Promise<void> {
  const verdict = authorize(
    { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers },
    session,
  );
  if (verdict.ok === "login") {
    res.writeHead(303, {
      location: verdict.location,
      "set-cookie": sessionCookie(session),
      ...SECURITY_HEADERS,
    });
    return void res.end();
  }
  if (verdict.ok === false) return sendError(res, verdict.status, verdict.message);
  const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
  if (req.method === "GET" && (path === "/" || path.startsWith("/canary/"))) return sendPage(res, session);
  if (req.method === "GET" && path === "/favicon.ico") return void res.writeHead(204, SECURITY_HEADERS).end();
  if (req.method === "GET" && path === "/assets/style.css") return sendText(res, "text/css", STYLE);
  if (req.method === "GET" && ASSETS[path])
    return sendText(res, "text/javascript", await script(ASSETS[path]));
  if (req.method === "GET" && path === "/api/live") return ctx.live.subscribe(res);
  const m = /^\/api\/canaries\/([^/]+)\/([^/]+)(?:\/([a-z]+))?$/.exec(path);
  if (m) {
    const key = `${decodeURIComponent(m[1] as string)}/${decodeURIComponent(m[2] as string)}`;
    const canary = ctx.live.get(key);
    if (!canary) return sendError(res, 404, `Canary ${key} not found`);
    if (req.method === "GET" && !m[3])
      return sendJson(res, 200, await canaryDetail(ctx.cluster.client, canary, ctx.history));
    if (req.method === "POST" && (ACTIONS as readonly string[]).includes(m[3] ?? "")) {
      const body = await readJson(req);
      try {
        const reason = typeof body.reason === "string" ? body.reason : undefined;
        return sendJson(res, 200, await act(ctx.cluster, canary, m[3] as Action, reason ? { reason } : {}));
      } catch (err) {
        return sendError(res, statusOf(err), errorText(err));
      }
    }
  }
  sendError(res, 404, `nothing at ${req.method} ${path}`);
}

/** The metric provider's history, replayed as `kanaria backtest --from-cluster` does, for the canary pods. */
function historyReader(options: DashboardOptions): HistoryReader {
  const lookups = kubeLookups(options.cluster.client);
  return async (canary, from, to) =>
    (
      await backtest({
        canary,
        ...lookups,
        providers: createMetricProvider,
        ...(options.metricsServer ? { metricsServer: options.metricsServer } : {}),
        from,
        to,
        target: canary.spec.targetRef.name,
        timeoutMs: 10_000,
      })
    ).metrics;
}

/** RBAC refusals and refused requests keep their status so the page can say which it was. */
function statusOf(err: unknown): number {
  if (err instanceof CliError) return 409;
  if (err instanceof KubeApiError && [403, 404, 409, 422].includes(err.code)) return err.code;
  return 500;
}

function errorText(err: unknown): string {
  return redact(err instanceof Error ? err.message : String(err));
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

function sendPage(res: ServerResponse, session: Session): void {
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    // Only this server's own files; no inline script, no other origin (works offline, no CDN).
    "content-security-policy":
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ...SECURITY_HEADERS,
  });
  res.end(page(session));
}

function page(session: Session): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="kanaria-token" content="${session.token}">
<title>kanaria dashboard</title>
<link rel="stylesheet" href="/assets/style.css">
<link rel="modulepreload" href="/assets/detail.js">
<link rel="modulepreload" href="/assets/parts.js">
<script type="module" src="/assets/app.js"></script>
</head>
<body>
<header><a href="/" class="brand">kanaria</a> <span id="connection" role="status">connecting…</span></header>
<main id="main" tabindex="-1"></main>
</body>
</html>
`;
}

const scripts = new Map<string, string>();

/**
 * The client is TypeScript: tsc's JavaScript next to this file when there is one (the package),
 * else its source with the types stripped by Node itself (a checkout): no bundler step either way.
 */
async function script(name: string): Promise<string> {
  let body = scripts.get(name);
  if (body !== undefined) return body;
  try {
    body = await readFile(join(CLIENT_DIR, `${name}.js`), "utf8");
  } catch {
    const source = await readFile(join(CLIENT_DIR, `${name}.ts`), "utf8");
    body = stripTypeScriptTypes(source).replaceAll(/from "\.\/(\w+)\.ts"/g, 'from "./$1.js"');
  }
  scripts.set(name, body);
  return body;
}

function sendText(res: ServerResponse, type: string, body: string): void {
  res.writeHead(200, { "content-type": `${type}; charset=utf-8`, ...SECURITY_HEADERS });
  res.end(body);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = "";
  for await (const chunk of req) {
    text += chunk;
    if (text.length > MAX_BODY) throw new CliError("request body too large");
  }
  try {
    const value = JSON.parse(text || "{}") as unknown;
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", ...SECURITY_HEADERS });
  res.end(JSON.stringify(value));
}

function sendError(res: ServerResponse, status: number, message: string): void {
  sendJson(res, status, { error: message });
}

export { TOKEN_HEADER };
