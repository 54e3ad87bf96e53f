/**
 * Limits that keep `kanaria validate` bounded in memory and time on any input. The YAML parser builds
 * a node object per value (a few hundred bytes each) and composes nested collections recursively, so
 * a file is measured with the lexer (one token at a time, no tree) before it is parsed.
 */
import { CST, Lexer } from "yaml";

/** Larger files are not read: the API server takes at most 3 MiB per request, etcd 1.5 MiB per object. */
export const MAX_FILE_BYTES = 4 * 1024 * 1024;
/** YAML values (keys, scalars and collections) in one file: about 200 MB of parse tree at most. */
export const MAX_VALUES = 150_000;
/** Nesting of collections; kanaria objects nest about 10 deep, the parser recurses per level. */
export const MAX_DEPTH = 100;

const SYNTHETIC = new Set([CST.DOCUMENT, CST.SCALAR, CST.FLOW_END]);

export interface LimitProblem {
  /** Where the limit was crossed, as an offset into the text. */
  offset: number;
  message: string;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export function fileTooLarge(bytes: number): string | undefined {
  if (bytes <= MAX_FILE_BYTES) return undefined;
  return `the file is ${mib(bytes)}; kanaria validate reads files up to ${mib(MAX_FILE_BYTES)} (the API server accepts 3 MiB per object): split it`;
}

/** The first limit the text crosses, or undefined. Linear in the text, constant memory. */
export function checkLimits(text: string): LimitProblem | undefined {
  let offset = 0;
  let column = 0;
  let values = 0;
  let flow = 0;
  /** Columns of the block collections open at this point: one per level of nesting. */
  let block: number[] = [];
  let scalarNext = false;
  for (const token of new Lexer().lex(text)) {
    const start = offset;
    const at = column;
    // The lexer's markers (document, scalar, flow end) are not part of the text.
    if (!SYNTHETIC.has(token)) {
      offset += token.length;
      const newline = token.lastIndexOf("\n");
      column = newline >= 0 ? token.length - newline - 1 : column + token.length;
    }
    if (scalarNext) {
      // The scalar's text (a block scalar's lines look like indentation to tokenType).
      scalarNext = false;
      continue;
    }
    const type = token === CST.SCALAR ? "scalar-start" : CST.tokenType(token);
    switch (type) {
      case "doc-start":
      case "doc-mode":
        block = [];
        flow = 0;
        continue;
      case "flow-map-end":
      case "flow-seq-end":
        flow = Math.max(0, flow - 1);
        continue;
      case "scalar-start":
        scalarNext = true;
        break;
      case "flow-map-start":
      case "flow-seq-start":
      case "seq-item-ind":
      case "explicit-key-ind":
      case "alias":
        break;
      default:
        continue;
    }
    if (++values > MAX_VALUES) {
      return {
        offset: start,
        message: `more than ${MAX_VALUES} YAML values in this file; kanaria validate checks up to ${MAX_VALUES} per file: split it`,
      };
    }
    // Block nesting follows the columns where nodes start; inside flow collections brackets count.
    if (flow === 0) {
      while (block.length > 0 && (block.at(-1) as number) >= at) block.pop();
      block.push(at);
    }
    if (type === "flow-map-start" || type === "flow-seq-start") flow++;
    if (block.length + flow > MAX_DEPTH) {
      return {
        offset: start,
        message: `nested more than ${MAX_DEPTH} levels deep; kanaria objects nest about 10 levels: this is not a manifest kanaria can read`,
      };
    }
  }
  return undefined;
}
