import type { Document, LineCounter } from "yaml";

/**
 * One Kubernetes-style object (a YAML mapping) found in a file: a document, or an item of a List.
 * `doc` holds the object's node as its contents, so field paths are located from the object itself.
 */
export interface Manifest {
  file: string;
  doc: Document;
  lines: LineCounter;
  value: Record<string, unknown>;
  apiVersion: string | undefined;
  kind: string | undefined;
  name: string | undefined;
  namespace: string | undefined;
}
