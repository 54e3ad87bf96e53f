/**
 * What a person reads, whatever the channel: a title, why it happened, the facts (canary, cluster,
 * revisions, weight, steps, duration), the failing checks with value, range and provider, and what
 * to do next. Slack, Teams and the generic webhook render this one view their own way.
 */
import type { AlertRecord, Severity } from "../api/alert-outbox.ts";
// Values as the check messages write them, so an alert and its Event agree to the digit.
import { formatValue } from "../metrics/analysis.ts";

export interface AlertMessage {
  alert: AlertRecord;
  canary: { name: string; namespace: string; target: string };
  /** --cluster-name: which cluster this is, in every message. */
  cluster: string | undefined;
}

export interface Fact {
  label: string;
  value: string;
}

export interface NextAction {
  what: string;
  command: string;
}

export interface AlertView {
  title: string;
  severity: Severity;
  /** What happened and why, in the controller's own words (the Kubernetes Event's message). */
  summary: string;
  facts: Fact[];
  /** One line per failing check: "request-success-rate 90.12, allowed: at least 99 (prometheus)". */
  failing: string[];
  /** What to do next, each a command. */
  nextActions: NextAction[];
  /** Everything above as plain text: Slack's notification fallback, logs, the generic payload. */
  text: string;
}

/** Colours per severity: Slack attachment bars and the generic payload. */
export const SEVERITY_COLORS: Record<Severity, string> = {
  info: "#2eb67d",
  warn: "#ecb22e",
  error: "#e01e5a",
};

export function buildView(m: AlertMessage): AlertView {
  const view = {
    title: title(m),
    severity: m.alert.severity,
    summary: m.alert.message,
    facts: facts(m),
    failing: (m.alert.checks ?? []).map(describeCheck),
    nextActions: nextActions(m),
  };
  return { ...view, text: plainText(view) };
}

function title(m: AlertMessage): string {
  const { alert } = m;
  const who = `${m.canary.name}.${m.canary.namespace}`;
  switch (alert.kind) {
    case "NewRevision":
      return `New revision of ${who}: ${images(alert.canary) ?? "analysis started"}`;
    case "Step":
      return `${who}: ${stepText(alert)}`;
    case "Promoted":
      return `Promoted ${who}: ${images(alert.canary) ?? "the new revision"} is live`;
    case "WaitingApproval":
      return alert.phase === "Waiting"
        ? `${who} is waiting for approval to start`
        : `${who} passed its analysis and is waiting to be promoted`;
    case "Halted":
      return `Halted ${who}${alert.weight ? ` at weight ${alert.weight}%` : ""}${
        alert.failedChecks !== undefined && alert.threshold !== undefined
          ? `: failed checks ${alert.failedChecks}/${alert.threshold}`
          : ""
      }`;
    case "RolledBack":
      return `Rolled back ${who}: ${rollbackCause(alert)}`;
    case "Drift":
      return `Drift in ${who}: an object kanaria owns was changed outside kanaria`;
  }
}

function rollbackCause(alert: AlertRecord): string {
  switch (alert.cause) {
    case "failed-checks":
      return (alert.checks ?? []).length > 0
        ? `${(alert.checks ?? []).map((c) => c.name).join(", ")} failed`
        : "failed checks";
    case "canary-not-ready":
      return "the canary never became ready";
    case "primary-not-ready":
      return "the promoted primary was not ready, so it goes back to the last promoted revision";
    case "webhook":
      return "a webhook failed";
    case "manual":
      return "aborted by request";
    case "metrics-unavailable":
      return "its metrics could not be read (provider unreachable or no data), not failed checks";
    default:
      return "analysis failed";
  }
}

function stepText(alert: AlertRecord): string {
  const of = alert.step !== undefined && alert.steps ? ` (step ${alert.step} of ${alert.steps})` : "";
  return alert.weight !== undefined && alert.weight > 0 ? `canary weight ${alert.weight}%${of}` : `step${of}`;
}

function images(revision: AlertRecord["canary"]): string | undefined {
  const list = revision?.images ?? [];
  return list.length > 0 ? list.join(", ") : undefined;
}

function revisionText(revision: AlertRecord["canary"]): string | undefined {
  if (!revision) return undefined;
  const shown = images(revision);
  const hash = revision.hash ? `revision ${revision.hash.slice(0, 10)}` : undefined;
  if (shown && hash) return `${shown} (${hash})`;
  return shown ?? hash;
}

function facts(m: AlertMessage): Fact[] {
  const { alert } = m;
  const out: Fact[] = [{ label: "Canary", value: `${m.canary.name} in namespace ${m.canary.namespace}` }];
  if (m.cluster) out.push({ label: "Cluster", value: m.cluster });
  const canary = revisionText(alert.canary);
  const primary = revisionText(alert.primary);
  if (alert.kind === "RolledBack") {
    if (canary) out.push({ label: "Rolled back", value: canary });
    if (primary) out.push({ label: "Kept", value: primary });
  } else if (alert.kind === "Promoted") {
    if (canary) out.push({ label: "Promoted", value: canary });
  } else {
    if (canary) out.push({ label: "New revision", value: canary });
    if (primary && alert.kind === "NewRevision") out.push({ label: "Primary runs", value: primary });
  }
  if (alert.kind !== "NewRevision" && alert.weight !== undefined)
    out.push({ label: alert.kind === "RolledBack" ? "Weight reached" : "Weight", value: `${alert.weight}%` });
  if (alert.kind !== "NewRevision" && alert.step !== undefined) {
    out.push({ label: "Steps", value: alert.steps ? `${alert.step} of ${alert.steps}` : `${alert.step}` });
  }
  if (alert.failedChecks !== undefined && alert.threshold !== undefined && alert.failedChecks > 0)
    out.push({ label: "Failed checks", value: `${alert.failedChecks} (rollback at ${alert.threshold})` });
  if (alert.durationSeconds !== undefined)
    out.push({ label: "Ran for", value: humanDuration(alert.durationSeconds) });
  return out;
}

export function describeCheck(check: NonNullable<AlertRecord["checks"]>[number]): string {
  const range = rangeText(check.thresholdRange);
  const by = [check.provider, check.series].filter(Boolean).join(", ");
  const provider = by ? ` (${by})` : "";
  if (check.value === undefined)
    return check.message.startsWith(check.name) ? check.message : `${check.name}: ${check.message}`;
  return `${check.name} ${formatValue(check.value)}, allowed: ${range}${provider}`;
}

function rangeText(range: { min?: number | undefined; max?: number | undefined } | undefined): string {
  if (range?.min !== undefined && range.max !== undefined) return `${range.min} to ${range.max}`;
  if (range?.min !== undefined) return `at least ${range.min}`;
  if (range?.max !== undefined) return `at most ${range.max}`;
  return "any value";
}

export function humanDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

function nextActions(m: AlertMessage): NextAction[] {
  const { name, namespace, target } = m.canary;
  const describe = { what: "See why", command: `kubectl -n ${namespace} describe canary ${name}` };
  const status = { what: "Checks and events", command: `kanaria status ${name} -n ${namespace}` };
  const abort = { what: "Stop it now", command: `kanaria abort ${name} -n ${namespace}` };
  switch (m.alert.kind) {
    case "RolledBack":
      return [
        describe,
        status,
        { what: "Retry this revision", command: `kanaria retry ${name} -n ${namespace}` },
        {
          what: "Or start a new analysis",
          command: `kubectl -n ${namespace} rollout restart deployment/${target}`,
        },
      ];
    case "Halted":
      return [describe, status, abort];
    case "Drift":
      return [
        {
          what: "See what changed",
          command: `kubectl -n ${namespace} get events --field-selector reason=Drift`,
        },
      ];
    case "WaitingApproval":
      return [{ what: "Let it through", command: `kanaria promote ${name} -n ${namespace}` }, abort];
    default:
      return [];
  }
}

function plainText(view: Omit<AlertView, "text">): string {
  const lines = [view.title, view.summary, ...view.facts.map((f) => `${f.label}: ${f.value}`)];
  if (view.failing.length > 0) lines.push("Failing checks:", ...view.failing.map((f) => `- ${f}`));
  if (view.nextActions.length > 0)
    lines.push("Next:", ...view.nextActions.map((a) => `- ${a.what}: ${a.command}`));
  return lines.join("\n");
}
