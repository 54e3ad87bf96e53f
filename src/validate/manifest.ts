import type { Document } from "yaml";

/** Line and column (1-based) of an offset into the text a document was parsed from. */
export interface Lines {
  linePos(offset: number): { line: number; col: number };
}

/**
 * One Kubernetes-style object (a YAML mapping) found in a file: a document, or an item of a List.
 * `doc` holds the object's node as its contents, so field paths are located from the object itself.
 */
export interface Manifest {
  file: string;
  doc: Document;
  lines: Lines;
  value: Record<string, unknown>;
  apiVersion: string | undefined;
  kind: string | undefined;
  name: string | undefined;
  namespace: string | undefined;
}
