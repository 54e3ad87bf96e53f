/**
 * Flagger's -include-label-prefix: which of the target's own labels (and of a tracked ConfigMap's or
 * Secret's) its `-primary` copy carries. None by default, as in Flagger: a tool that claims objects by
 * a label (Helm's managed-by, Argo CD's instance) would otherwise claim the primary too. `*` takes
 * every label. Flux's labels (`*.toolkit.fluxcd.io/*`) are never copied, whatever the prefixes: Flux
 * prunes what carries its inventory labels, and it would prune the primary.
 */

/** The prefixes as given on the command line: comma-separated, blanks ignored. */
export type LabelPrefixes = readonly string[];

const FLUX_MARKER = "toolkit.fluxcd.io";

export function parseLabelPrefixes(flag: string | undefined): LabelPrefixes {
  return (flag ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "");
}

/** The labels a primary copy carries over from its original. */
export function includedLabels(
  labels: Readonly<Record<string, string>> | undefined,
  prefixes: LabelPrefixes,
): Record<string, string> {
  if (prefixes.length === 0) return {};
  return Object.fromEntries(
    Object.entries(labels ?? {}).filter(
      ([key]) => !key.includes(FLUX_MARKER) && prefixes.some((p) => p === "*" || key.startsWith(p)),
    ),
  );
}
