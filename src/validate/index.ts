/** `kanaria validate` as a library: read manifests, check every kanaria.dev object, report problems. */
import { API_VERSION, GROUP } from "../api/common.ts";
import { kindInfo } from "../api/kinds.ts";
import { crossCheck } from "./cross-check.ts";
import {
  collectFiles,
  type IoError,
  type Manifest,
  parseSource,
  readSources,
  type SourceFile,
} from "./load.ts";
import { problemAt } from "./locate.ts";
import { checkMetadata, checkTypeMeta } from "./metadata-check.ts";
import { type Problem, sortProblems } from "./problem.ts";
import { checkManifest } from "./schema-check.ts";
import { closest } from "./suggest.ts";

export type { IoError, SourceFile } from "./load.ts";
export type { Problem, Severity } from "./problem.ts";

export interface ValidateOptions {
  /** Warnings fail the check too (exit code 1). */
  strict?: boolean;
}

export interface ValidateResult {
  problems: Problem[];
  /** Files read and parsed. */
  files: number;
  /** kanaria.dev objects found, valid or not. */
  objects: number;
  errors: number;
  warnings: number;
  /** Paths that could not be read; any of them makes the exit code 2. */
  ioErrors: IoError[];
  /** 0: no errors; 1: an object is invalid (or, with strict, has a warning); 2: a path could not be read. */
  exitCode: 0 | 1 | 2;
}

const FLAGGER_GROUP = "flagger.app";

function groupOf(m: Manifest): string | undefined {
  return m.apiVersion?.split("/")[0];
}

/** A kanaria kind (Canary, MetricTemplate, AlertProvider) under another apiVersion: applying it fails
 * where only kanaria is installed (or reaches Flagger, not kanaria), so it is an error, never a skip. */
function otherApiVersionProblems(m: Manifest): Problem[] {
  if (m.apiVersion === undefined) return []; // checkTypeMeta reports a missing or non-string one
  const shown = JSON.stringify(m.apiVersion);
  const group = groupOf(m) ?? "";
  let why = `${shown} is not an API version kanaria serves`;
  if (group === FLAGGER_GROUP) why = `${m.apiVersion} is Flagger's API, which kanaria does not act on`;
  else if (m.apiVersion.includes("{{"))
    why = `${shown} is an unrendered template: validate the rendered output`;
  else if (closest(group, [GROUP]) !== undefined) why = `API group "${group}" looks like a typo of ${GROUP}`;
  const message = `${why}; kanaria serves ${API_VERSION}: set apiVersion to ${API_VERSION}`;
  return [problemAt(m, ["apiVersion"], "error", message)];
}

/** Objects of other API groups are not ours to judge, except a misspelt kanaria.dev (likely a mistake). */
function foreignObjectProblems(m: Manifest): Problem[] {
  if (m.kind !== undefined && kindInfo(m.kind) !== undefined) return otherApiVersionProblems(m);
  const group = groupOf(m);
  if (group !== undefined && closest(group, [GROUP]) !== undefined) {
    const message = `API group "${group}" looks like a typo of ${GROUP}: this object was not validated; use apiVersion ${API_VERSION}`;
    return [problemAt(m, ["apiVersion"], "warning", message)];
  }
  return [];
}

function exitCode(errors: number, warnings: number, ioErrors: number, strict: boolean): 0 | 1 | 2 {
  if (ioErrors > 0) return 2;
  return errors > 0 || (strict && warnings > 0) ? 1 : 0;
}

/** Validates already-read files; `validatePaths` is this plus file discovery. */
export function validateSources(
  sources: readonly SourceFile[],
  opts: ValidateOptions = {},
  ioErrors: IoError[] = [],
): ValidateResult {
  const problems: Problem[] = [];
  const manifests: Manifest[] = [];
  for (const source of sources) {
    const parsed = parseSource(source);
    problems.push(...parsed.problems);
    manifests.push(...parsed.manifests);
  }
  const kanaria = manifests.filter((m) => groupOf(m) === GROUP);
  problems.push(...manifests.flatMap(checkTypeMeta));
  problems.push(...kanaria.flatMap(checkManifest));
  problems.push(...kanaria.filter((m) => m.apiVersion === API_VERSION).flatMap(checkMetadata));
  problems.push(...manifests.filter((m) => groupOf(m) !== GROUP).flatMap(foreignObjectProblems));
  problems.push(...crossCheck(manifests));
  const errors = problems.filter((p) => p.severity === "error").length;
  const warnings = problems.length - errors;
  return {
    problems: sortProblems(
      problems,
      sources.map((s) => s.file),
    ),
    files: sources.length,
    objects: kanaria.length,
    errors,
    warnings,
    ioErrors,
    exitCode: exitCode(errors, warnings, ioErrors.length, opts.strict === true),
  };
}

/** Validates files and directories (recursively: .yaml and .yml, skipping dot-directories,
 * node_modules and Helm chart templates). Never throws for bad input: unreadable paths land in ioErrors. */
export async function validatePaths(
  paths: readonly string[],
  opts: ValidateOptions = {},
): Promise<ValidateResult> {
  const found = await collectFiles(paths);
  const read = await readSources(found.files);
  return validateSources(read.sources, opts, [...found.ioErrors, ...read.ioErrors]);
}
