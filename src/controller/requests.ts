/**
 * Requests people make with `kanaria promote/abort/retry`: an annotation on the Canary whose value
 * names the revision it is meant for, so a request written for one release never acts on a newer
 * one. The controller records the values it acted on in status.requests, so each acts once.
 */
export const REQUEST_ANNOTATIONS = {
  promote: "kanaria.dev/promote",
  abort: "kanaria.dev/abort",
  retry: "kanaria.dev/retry",
} as const;

export type RequestKind = keyof typeof REQUEST_ANNOTATIONS;

export interface GateRequest {
  /** The annotation value as written: what status.requests records. */
  raw: string;
  /** The revision (status.lastAppliedSpec) the request is for; "" when the value cannot be read. */
  revision: string;
  /** Who asked (the kubeconfig user of the CLI). */
  by?: string;
  /** When the CLI wrote it; also makes a second request for one revision differ from the first. */
  at?: string;
  reason?: string;
  /** promote only: promote now, without the rest of the analysis. */
  skipAnalysis?: boolean;
}

export type Requests = Partial<Record<RequestKind, GateRequest>>;

export function formatRequest(r: Omit<GateRequest, "raw">): string {
  return JSON.stringify({
    revision: r.revision,
    ...(r.by ? { by: r.by } : {}),
    ...(r.at ? { at: r.at } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.skipAnalysis ? { skipAnalysis: true } : {}),
  });
}

/** Reads the request annotations; a value that is not kanaria's JSON becomes a request for no revision. */
export function parseRequests(annotations: Record<string, string> | undefined): Requests {
  const requests: Requests = {};
  for (const [kind, key] of Object.entries(REQUEST_ANNOTATIONS) as [RequestKind, string][]) {
    const raw = annotations?.[key];
    if (raw !== undefined) requests[kind] = parseRequest(raw);
  }
  return requests;
}

function parseRequest(raw: string): GateRequest {
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    const text = (k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);
    return {
      raw,
      revision: text("revision") ?? "",
      ...(text("by") ? { by: text("by") } : {}),
      ...(text("at") ? { at: text("at") } : {}),
      ...(text("reason") ? { reason: text("reason") } : {}),
      ...(v.skipAnalysis === true ? { skipAnalysis: true } : {}),
    };
  } catch {
    // A bare revision, as someone might write it by hand with kubectl annotate.
    return { raw, revision: raw.trim() };
  }
}

/** "by alice (kanaria CLI)" for Event messages. */
export function requester(r: GateRequest): string {
  return r.by ? `by ${r.by}` : "by an unnamed requester";
}
