/**
 * Limits that keep `kanaria validate` bounded in memory and time on any input. The YAML parser builds
 * a node object per value (a few hundred bytes each) and composes nested collections recursively, so
 * a file is measured with the lexer (scan.ts: one token at a time, no tree) before it is parsed.
 */

/** Larger files are not read: the API server takes at most 3 MiB per request, etcd 1.5 MiB per object. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** YAML values (keys, scalars and collections) in one object, a document or a List item, which is parsed
 * on its own (see scan.ts): its parse tree takes about 1.5 KB per value while it is built. */
export const MAX_OBJECT_VALUES = 100_000;
/** Values of the objects that the cross-object checks keep (kanaria objects, Deployments, HTTPRoutes)
 * in one run, whatever the number of files: about 350 bytes each once parsed, so about 175 MB. */
export const MAX_RUN_VALUES = 500_000;
/** Problems listed per run; beyond it they are counted only. */
export const MAX_PROBLEMS = 10_000;
/** Nesting of collections; kanaria objects nest about 10 deep, the parser recurses per level. */
export const MAX_DEPTH = 100;

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export function fileTooLarge(bytes: number): string | undefined {
  if (bytes <= MAX_FILE_BYTES) return undefined;
  return `the file is ${mib(bytes)}; kanaria validate reads files up to ${mib(MAX_FILE_BYTES)} (the API server accepts 3 MiB per object): split it`;
}

export function tooManyMessage(): string {
  return `more than ${MAX_OBJECT_VALUES} YAML values in one object (a document or a List item); kanaria validate checks up to ${MAX_OBJECT_VALUES}: split it`;
}

export function tooDeepMessage(): string {
  return `nested more than ${MAX_DEPTH} levels deep; kanaria objects nest about 10 levels: this is not a manifest kanaria can read`;
}
