/** `kanaria validate` for query templates: what Go's text/template would refuse, and the functions and
 * constructs beyond those Flagger's documentation uses, which kanaria does not render. */
import { queryTemplateProblem } from "../metrics/template.ts";
import type { Manifest } from "./load.ts";
import { problemAt } from "./locate.ts";
import type { Problem } from "./problem.ts";

type Path = (string | number)[];

const FIX =
  "write the query with the model's functions ({{ namespace }}, {{ variables.KEY }}, ...), printf, strings and pipes";

/** A MetricTemplate's query, and a Canary's inline metrics[].query (Flagger's deprecated form). */
function queries(m: Manifest): [Path, unknown][] {
  const spec = (m.value as { spec?: { query?: unknown; analysis?: { metrics?: unknown } } } | undefined)
    ?.spec;
  if (m.kind === "MetricTemplate") return [[["spec", "query"], spec?.query]];
  const metrics = spec?.analysis?.metrics;
  if (m.kind !== "Canary" || !Array.isArray(metrics)) return [];
  return metrics.map((metric, i) => [["spec", "analysis", "metrics", i, "query"], metric?.query]);
}

export function queryCheck(m: Manifest): Problem[] {
  return queries(m).flatMap(([path, query]) => {
    if (typeof query !== "string") return []; // a missing or non-string query is the schema check's
    const problem = queryTemplateProblem(query);
    return problem === undefined ? [] : [problemAt(m, path, "error", `${problem}; ${FIX}`)];
  });
}
