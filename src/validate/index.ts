/** `kanaria validate` as a library: read manifests, check every kanaria.dev object, report problems. */
import { API_VERSION, GROUP } from "../api/common.ts";
import { kindInfo } from "../api/kinds.ts";
import { isAutoscaler } from "./autoscaler-check.ts";
import { crossCheck } from "./cross-check.ts";
import { MAX_PROBLEMS, MAX_RUN_VALUES } from "./limits.ts";
import {
  collectFiles,
  errorText,
  type IoError,
  type Manifest,
  parseObjects,
  readSource,
  type SourceFile,
} from "./load.ts";
import { problemAt } from "./locate.ts";
import { checkMetadata, checkTypeMeta } from "./metadata-check.ts";
import { type Problem, sortProblems } from "./problem.ts";
import { queryCheck } from "./query-check.ts";
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
  /** What kanaria makes of valid Flagger forms; never fails a run. */
  notes: number;
  /** Problems counted in errors and warnings but not listed (beyond the first MAX_PROBLEMS). */
  omitted: number;
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

/**
 * What the cross-object checks read: kanaria objects, Deployments, HorizontalPodAutoscalers and KEDA
 * ScaledObjects, Gateway API HTTPRoutes, and the Gateways, Ingresses and classes that tell whose
 * series the built-in metrics read.
 */
function crossChecked(m: Manifest): boolean {
  if (m.apiVersion === API_VERSION) return true;
  if (m.apiVersion === "apps/v1" && m.kind === "Deployment") return true;
  if (isAutoscaler(m)) return true;
  if ((m.apiVersion ?? "").startsWith("gateway.networking.k8s.io/")) {
    return m.kind === "HTTPRoute" || m.kind === "Gateway" || m.kind === "GatewayClass";
  }
  return m.apiVersion === "networking.k8s.io/v1" && (m.kind === "Ingress" || m.kind === "IngressClass");
}

/** The problems of one object that need no other object. */
function objectProblems(m: Manifest): Problem[] {
  const problems = checkTypeMeta(m);
  if (groupOf(m) !== GROUP) return [...problems, ...foreignObjectProblems(m)];
  problems.push(...checkManifest(m));
  if (m.apiVersion === API_VERSION) problems.push(...checkMetadata(m), ...queryCheck(m));
  return problems;
}

/**
 * One run over many files, one object at a time: an object's parse tree is dropped once it is checked,
 * unless the cross-object checks need it, and those keep at most MAX_RUN_VALUES values in all. So what
 * a run holds does not grow with the number of files, empty documents or objects of other kinds.
 */
export class Run {
  readonly problems: Problem[] = [];
  readonly files: string[] = [];
  readonly kept: Manifest[] = [];
  keptValues = 0;
  objects = 0;
  errors = 0;
  warnings = 0;
  notes = 0;
  omitted = 0;
  full = false;

  readonly limits: { runValues: number; problems: number };

  constructor(limits = { runValues: MAX_RUN_VALUES, problems: MAX_PROBLEMS }) {
    this.limits = limits;
  }

  add(source: SourceFile): void {
    this.files.push(source.file);
    for (const parsed of parseObjects(source)) {
      if ("problem" in parsed) {
        this.report([parsed.problem]);
        continue;
      }
      const m = parsed.manifest;
      if (groupOf(m) === GROUP) this.objects++;
      this.report(objectProblems(m));
      if (crossChecked(m)) this.keep(parsed.keep(), parsed.values);
    }
  }

  keep(m: Manifest, values: number): void {
    if (this.full) return;
    if (this.keptValues + values > this.limits.runValues) {
      this.full = true;
      const message = `the cross-object checks hold up to ${this.limits.runValues} YAML values of kanaria objects, Deployments, HTTPRoutes and autoscalers per run; objects from here on are checked one by one only: validate fewer files at once`;
      this.report([problemAt(m, [], "error", message)]);
      return;
    }
    this.keptValues += values;
    this.kept.push(m);
  }

  /** Counts every problem; keeps the first MAX_PROBLEMS to print. */
  report(problems: Problem[]): void {
    for (const p of problems) {
      if (p.severity === "error") this.errors++;
      else if (p.severity === "warning") this.warnings++;
      else this.notes++;
      if (this.problems.length < this.limits.problems) this.problems.push(p);
      else this.omitted++;
    }
  }

  result(opts: ValidateOptions, ioErrors: IoError[]): ValidateResult {
    this.report(crossCheck(this.kept));
    return {
      problems: sortProblems(this.problems, this.files),
      files: this.files.length,
      objects: this.objects,
      errors: this.errors,
      warnings: this.warnings,
      notes: this.notes,
      omitted: this.omitted,
      ioErrors,
      exitCode: exitCode(this.errors, this.warnings, ioErrors.length, opts.strict === true),
    };
  }
}

/** Validates already-read files; `validatePaths` is this plus file discovery, reading one file at a time. */
export function validateSources(
  sources: readonly SourceFile[],
  opts: ValidateOptions = {},
  ioErrors: IoError[] = [],
): ValidateResult {
  const run = new Run();
  for (const source of sources) run.add(source);
  return run.result(opts, ioErrors);
}

/** Validates files and directories (recursively: .yaml and .yml, skipping dot-directories,
 * node_modules and Helm chart templates). Never throws for bad input: unreadable paths land in ioErrors.
 * Files are read one at a time, so a run holds one file's text at most. */
export async function validatePaths(
  paths: readonly string[],
  opts: ValidateOptions = {},
): Promise<ValidateResult> {
  const found = await collectFiles(paths);
  const ioErrors = [...found.ioErrors];
  const run = new Run();
  for (const file of found.files) {
    let source: SourceFile;
    try {
      source = await readSource(file);
    } catch (err) {
      ioErrors.push({ path: file, message: errorText(err) });
      continue;
    }
    run.add(source);
  }
  return run.result(opts, ioErrors);
}
