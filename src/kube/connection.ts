/**
 * The connection to the API server: where it is, how to trust it and who we are, read from a kubeconfig
 * or from the Pod's service account, and the transport (transport.ts) that carries the requests.
 *
 * Why not client-node's KubeConfig for this: importing it loads the whole generated API (about 75 MiB
 * of the controller's resident memory, most of it source text kept for lazy compilation), of which the
 * controller needs none. Certificates, tokens, token files and basic auth are read here; a kubeconfig
 * whose user runs an exec plugin or an auth provider, or that names a proxy, is handed to client-node
 * (loaded only then), which knows them all.
 */
import { existsSync, readFileSync } from "node:fs";
import type http from "node:http";
import type https from "node:https";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import type { Readable } from "node:stream";
import { parse } from "yaml";
import {
  type HttpRequest,
  type HttpResponse,
  http1Transport,
  type Transport,
  transportFor,
} from "./transport.ts";

export type { HttpRequest, HttpResponse } from "./transport.ts";

export interface KubeConnection {
  /** e.g. "https://10.0.0.1:443", without a trailing slash. */
  readonly server: string;
  /** The context's namespace, if it names one (in a Pod: the Pod's). */
  readonly namespace: string | undefined;
  /** The kubeconfig user's name (for people: who asked for a promotion), if any. */
  readonly user: string | undefined;
  /** Sends one request and resolves with the response once its headers are in (the body is a stream). */
  open(request: HttpRequest): Promise<HttpResponse>;
}

/** Reads the whole body of a response as text. */
export async function readBody(response: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
/** Bound service account tokens rotate (kubelet refreshes the file); read it again this often, as client-go does. */
const TOKEN_REREAD_MS = 60_000;

/**
 * Loads the connection settings for the API server:
 *   1. `path`, when given (the CLI's --kubeconfig),
 *   2. the Pod's service account, when running inside a cluster (KUBERNETES_SERVICE_HOST is set),
 *   3. otherwise $KUBECONFIG (several files are merged, as kubectl does) or ~/.kube/config.
 * Throws a message naming the file and the field when none exists or one is incomplete.
 */
export function loadConnection(
  path?: string,
  env: NodeJS.ProcessEnv = process.env,
  serviceAccountDir = SERVICE_ACCOUNT_DIR,
): KubeConnection {
  if (path) return fromKubeconfig([path], path);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env, serviceAccountDir);
  const files = env.KUBECONFIG
    ? env.KUBECONFIG.split(delimiter).filter((f) => f !== "" && existsSync(f))
    : [join(homedir(), ".kube", "config")].filter((f) => existsSync(f));
  if (files.length === 0) {
    throw new Error("no kubeconfig found: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config");
  }
  return fromKubeconfig(files, env.KUBECONFIG ?? "~/.kube/config");
}

function inCluster(env: NodeJS.ProcessEnv, dir: string): KubeConnection {
  const host = env.KUBERNETES_SERVICE_HOST ?? "";
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const namespaceFile = join(dir, "namespace");
  return new HttpConnection({
    server,
    namespace: existsSync(namespaceFile) ? readFileSync(namespaceFile, "utf8").trim() : undefined,
    user: undefined,
    ca: readFileSync(join(dir, "ca.crt")),
    tokenFile: join(dir, "token"),
  });
}

interface NamedEntry {
  name?: string;
  cluster?: Record<string, unknown>;
  user?: Record<string, unknown>;
  context?: Record<string, unknown>;
}

interface KubeconfigFile {
  "current-context"?: string;
  clusters?: NamedEntry[];
  users?: NamedEntry[];
  contexts?: NamedEntry[];
}

/** An entry's fields, with relative file paths made absolute against the file that holds them. */
type Located = { fields: Record<string, unknown>; dir: string };

/** kubectl's merge: the first file to set current-context wins, and the first entry of each name. */
function mergeKubeconfigs(files: string[]): {
  current: string | undefined;
  clusters: Map<string, Located>;
  users: Map<string, Located>;
  contexts: Map<string, Located>;
} {
  const merged = {
    current: undefined as string | undefined,
    clusters: new Map<string, Located>(),
    users: new Map<string, Located>(),
    contexts: new Map<string, Located>(),
  };
  for (const file of files) {
    let doc: KubeconfigFile;
    try {
      doc = (parse(readFileSync(file, "utf8")) ?? {}) as KubeconfigFile;
    } catch (err) {
      throw new Error(`kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    merged.current ??= doc["current-context"] || undefined;
    const dir = dirname(file);
    const add = (into: Map<string, Located>, entries: NamedEntry[] | undefined, key: keyof NamedEntry) => {
      for (const entry of entries ?? []) {
        const fields = entry[key];
        if (entry.name && typeof fields === "object" && !into.has(entry.name)) {
          into.set(entry.name, { fields: fields as Record<string, unknown>, dir });
        }
      }
    };
    add(merged.clusters, doc.clusters, "cluster");
    add(merged.users, doc.users, "user");
    add(merged.contexts, doc.contexts, "context");
  }
  return merged;
}

function fromKubeconfig(files: string[], shownAs: string): KubeConnection {
  const { current, clusters, users, contexts } = mergeKubeconfigs(files);
  if (!current) throw new Error(`the kubeconfig (${shownAs}) has no current-context`);
  const context = contexts.get(current);
  if (!context)
    throw new Error(`the kubeconfig (${shownAs}) has no context named ${current} (current-context)`);
  const clusterName = str(context.fields.cluster);
  const cluster = clusterName ? clusters.get(clusterName) : undefined;
  if (!cluster || !str(cluster.fields.server)) {
    throw new Error(
      `the kubeconfig (${shownAs}) has no current cluster: context ${current} names cluster ${clusterName ?? "(none)"}, which has no server`,
    );
  }
  const userName = str(context.fields.user);
  const user = userName ? users.get(userName) : undefined;
  const namespace = str(context.fields.namespace);
  const server = (str(cluster.fields.server) ?? "").replace(/\/+$/, "");
  const needsClientNode =
    user?.fields.exec !== undefined ||
    user?.fields["auth-provider"] !== undefined ||
    cluster.fields["proxy-url"] !== undefined;
  if (needsClientNode) return clientNodeConnection(files, server, namespace, userName);
  const file = (located: Located, field: string): Buffer | undefined => {
    const data = str(located.fields[`${field}-data`]);
    if (data) return Buffer.from(data, "base64");
    const path = str(located.fields[field]);
    if (!path) return undefined;
    return readFileSync(isAbsolute(path) ? path : join(located.dir, path));
  };
  const tokenFile = user && str(user.fields.tokenFile);
  return new HttpConnection({
    server,
    namespace,
    user: userName,
    ca: file(cluster, "certificate-authority"),
    insecure: cluster.fields["insecure-skip-tls-verify"] === true,
    serverName: str(cluster.fields["tls-server-name"]),
    cert: user && file(user, "client-certificate"),
    key: user && file(user, "client-key"),
    token: user && str(user.fields.token),
    tokenFile:
      tokenFile && user ? (isAbsolute(tokenFile) ? tokenFile : join(user.dir, tokenFile)) : undefined,
    basic:
      user && str(user.fields.username)
        ? `${str(user.fields.username)}:${str(user.fields.password) ?? ""}`
        : undefined,
  });
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

interface HttpSettings {
  server: string;
  namespace: string | undefined;
  user: string | undefined;
  ca?: Buffer | undefined;
  insecure?: boolean;
  serverName?: string | undefined;
  cert?: Buffer | undefined;
  key?: Buffer | undefined;
  token?: string | undefined;
  tokenFile?: string | undefined;
  basic?: string | undefined;
}

/** Static credentials: one transport for the process, so every request reuses one kept-alive TLS connection. */
class HttpConnection implements KubeConnection {
  readonly server: string;
  readonly namespace: string | undefined;
  readonly user: string | undefined;
  private readonly settings: HttpSettings;
  private readonly transport: Transport;
  private token: { value: string; readAt: number } | undefined;

  constructor(settings: HttpSettings) {
    this.settings = settings;
    this.server = settings.server;
    this.namespace = settings.namespace;
    this.user = settings.user;
    this.transport = transportFor(settings.server, settings);
  }

  open(request: HttpRequest): Promise<HttpResponse> {
    return this.transport.send(request, this.authHeaders());
  }

  private authHeaders(): Record<string, string> {
    const { token, tokenFile, basic } = this.settings;
    if (token) return { Authorization: `Bearer ${token}` };
    if (tokenFile) {
      const now = Date.now();
      if (!this.token || now - this.token.readAt > TOKEN_REREAD_MS) {
        this.token = { value: readFileSync(tokenFile, "utf8").trim(), readAt: now };
      }
      return { Authorization: `Bearer ${this.token.value}` };
    }
    if (basic) return { Authorization: `Basic ${Buffer.from(basic).toString("base64")}` };
    return {};
  }
}

/**
 * Exec plugins, auth providers and proxies: client-node fills in each request (its tokens expire).
 * It is loaded on the first request, so loading the connection stays synchronous.
 */
function clientNodeConnection(
  files: string[],
  server: string,
  namespace: string | undefined,
  user: string | undefined,
): KubeConnection {
  let loaded: Promise<import("@kubernetes/client-node").KubeConfig> | undefined;
  const kubeConfig = async () => {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromFile(files[0] as string);
    for (const file of files.slice(1)) {
      const next = new KubeConfig();
      next.loadFromFile(file);
      kc.mergeConfig(next);
    }
    return kc;
  };
  return {
    server,
    namespace,
    user,
    async open(request) {
      loaded ??= kubeConfig();
      const kc = await loaded;
      const options: https.RequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(options);
      const headers = Object.fromEntries(
        Object.entries(options.headers ?? {}).map(([k, v]) => [k, String(v)]),
      );
      if (options.auth) headers.Authorization = `Basic ${Buffer.from(options.auth).toString("base64")}`;
      return http1Transport(server, options.agent as http.Agent | undefined).send(request, headers);
    },
  };
}
