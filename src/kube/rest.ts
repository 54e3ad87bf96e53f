import { type HttpResponse, type KubeConnection, readBody } from "./connection.ts";
import { apiErrorFor, errorMessage, KubeApiError, UnservedKindError } from "./errors.ts";
import type { KubeObject } from "./types.ts";

/** The field manager of every write, and the component of every Event. */
export const FIELD_MANAGER = "kanaria";
const REQUEST_TIMEOUT_MS = 30_000;
const LIST_PAGE_SIZE = 500;

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export const SERVER_SIDE_APPLY = "application/apply-patch+yaml";
export const MERGE_PATCH = "application/merge-patch+json";

/** What is needed to find a resource's REST path; without `name` it is the collection. */
export interface ResourceRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name?: string;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
}

export interface ListResult<T> {
  items: T[];
  /** The list's resourceVersion: a watch started from it sees every later change. */
  resourceVersion: string;
}

interface KubeList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

interface KubeStatus {
  message?: string;
  reason?: string;
}

/** A group/version's kinds, as discovery lists them. */
type Resources = Map<string, { plural: string; namespaced: boolean }>;

/** How long a discovery answer that lacks a kind is trusted (a CRD may be installed meanwhile). */
const DISCOVERY_RETRY_MS = 10_000;

/**
 * Raw JSON access to any resource over a KubeConnection: discovery (kind -> plural and scope, cached
 * per apiVersion), requests that keep the JSON exactly as sent (timestamps stay strings, fields newer
 * than any generated model survive server-side apply), and watch streams.
 */
export class KubeRest {
  readonly connection: KubeConnection;
  private readonly discovery = new Map<string, { at: number; resources: Promise<Resources> }>();

  constructor(connection: KubeConnection) {
    this.connection = connection;
  }

  /** REST path of an object, or of its collection when `name` is absent (all namespaces without `namespace`). */
  async resourcePath(ref: ResourceRef): Promise<string> {
    let resource: { plural: string; namespaced: boolean } | undefined;
    try {
      resource = (await this.resources(ref.apiVersion, ref.kind)).get(ref.kind);
    } catch (err) {
      // Not a KubeApiError: a 404 from discovery must not read as "object not found".
      const message = `cannot resolve ${ref.kind} (${ref.apiVersion}): ${errorMessage(err)}`;
      if (err instanceof KubeApiError && err.code === 404)
        throw new UnservedKindError(message, { cause: err });
      throw new Error(message, { cause: err });
    }
    if (!resource) {
      throw new UnservedKindError(
        `cannot resolve ${ref.kind} (${ref.apiVersion}): the API server does not serve this kind`,
      );
    }
    const base = ref.apiVersion.includes("/") ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
    // An object named without a namespace is in the context's namespace, as kubectl reads it.
    const namespace = ref.namespace ?? (ref.name ? (this.connection.namespace ?? "default") : undefined);
    const scope = resource.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
    return `${base}${scope}/${resource.plural}${ref.name ? `/${encodeURIComponent(ref.name)}` : ""}`;
  }

  /** The kinds of an apiVersion; asked again when a kind is missing from an answer older than DISCOVERY_RETRY_MS. */
  private resources(apiVersion: string, kind: string): Promise<Resources> {
    const cached = this.discovery.get(apiVersion);
    if (cached) {
      const stale = Date.now() - cached.at > DISCOVERY_RETRY_MS;
      const answer = cached.resources.then(
        (r) => (r.has(kind) || !stale ? r : undefined),
        () => undefined,
      );
      return answer.then((r) => r ?? this.discover(apiVersion));
    }
    return this.discover(apiVersion);
  }

  private discover(apiVersion: string): Promise<Resources> {
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const resources = this.request<{ resources?: { name: string; kind: string; namespaced: boolean }[] }>(
      "GET",
      path,
    ).then((list) => {
      const byKind: Resources = new Map();
      for (const r of list.resources ?? []) {
        if (!r.name.includes("/")) byKind.set(r.kind, { plural: r.name, namespaced: r.namespaced });
      }
      return byKind;
    });
    this.discovery.set(apiVersion, { at: Date.now(), resources });
    // A failed discovery is not kept: the next call asks again.
    resources.catch(() => this.discovery.delete(apiVersion));
    return resources;
  }

  async request<T>(method: HttpMethod, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.connection.open({
      method,
      path: withQuery(path, options.query),
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      ...(options.contentType ? { contentType: options.contentType } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await readBody(response.body);
    const code = response.statusCode;
    if (code >= 200 && code <= 299) return (text ? JSON.parse(text) : {}) as T;
    throw apiError(code, text);
  }

  /** A streaming GET (a watch); the caller reads the body and aborts through `signal`. */
  async stream(path: string, query: RequestOptions["query"], signal: AbortSignal): Promise<HttpResponse> {
    const response = await this.connection.open({ method: "GET", path: withQuery(path, query), signal });
    const code = response.statusCode;
    if (code >= 200 && code <= 299) return response;
    throw apiError(code, await readBody(response.body));
  }

  /** Lists every object of a kind page by page; items get apiVersion/kind (the server omits them for built-ins). */
  async listAll<T extends KubeObject>(
    ref: Omit<ResourceRef, "name">,
    labelSelector?: string,
  ): Promise<ListResult<T>> {
    const path = await this.resourcePath(ref);
    const items: T[] = [];
    let resourceVersion = "";
    let continueToken: string | undefined;
    do {
      const page = await this.request<KubeList<T>>("GET", path, {
        query: { labelSelector, limit: LIST_PAGE_SIZE, continue: continueToken },
      });
      for (const item of page.items ?? [])
        items.push({ ...item, apiVersion: ref.apiVersion, kind: ref.kind });
      resourceVersion = page.metadata?.resourceVersion ?? "";
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }
}

function withQuery(path: string, query: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

function apiError(code: number, text: string): KubeApiError {
  let status: KubeStatus | undefined;
  try {
    status = JSON.parse(text) as KubeStatus;
  } catch {
    // Not JSON (a proxy's HTML error page, say): the raw text is the best message there is.
  }
  const message = status?.message || text.trim().slice(0, 300) || `HTTP ${code}`;
  return apiErrorFor(code, message, status?.reason);
}
