/**
 * One pass of the YAML lexer over a file (one token at a time, no tree): where each document starts and
 * ends, how many values it holds, how deep it nests, and, for a document whose top-level `items:` is a
 * block sequence (a List, as `kubectl get -o yaml` writes it), where each item starts and ends. The
 * parser then composes one document or one List item at a time, so the memory a file takes is that of
 * its largest object, not of the whole file, and a document with nothing in it costs no parse at all.
 */
import { CST, Lexer } from "yaml";
import { MAX_DEPTH, MAX_OBJECT_VALUES } from "./limits.ts";

/** A range of the file that is parsed on its own. */
export interface Span {
  start: number;
  end: number;
  /** 1-based line and column of `start`. */
  line: number;
  column: number;
  values: number;
  /** Where the values limit was crossed, if it was. */
  tooMany?: Position;
}

export interface Position {
  line: number;
  column: number;
}

export interface ScannedDocument extends Span {
  /** False for a document of nothing but `---`, comments and blank lines: there is nothing to parse. */
  content: boolean;
  /** Where the nesting limit was crossed, if it was. */
  tooDeep?: Position;
  /** The items of a top-level `items:` block sequence, when the document can be split into them
   * (no anchors, aliases or directives, which could tie one item to another). */
  items?: Span[];
}

const MARKERS = new Set([CST.DOCUMENT, CST.SCALAR, CST.FLOW_END]);
const NOT_CONTENT = new Set([
  "doc-start",
  "doc-end",
  "newline",
  "space",
  "comment",
  "directive-line",
  "byte-order-mark",
]);

function span(start: number, line: number, column: number): Span {
  return { start, end: start, line, column, values: 0 };
}

class Scanner {
  readonly done: ScannedDocument[] = [];
  doc: ScannedDocument = { ...span(0, 1, 1), content: false };
  /** A `---` or `...` was seen in this document: the next `---`, directive or document starts another. */
  marked = false;
  splittable = true;
  flow = 0;
  block: number[] = [];
  /** The top-level key being read and the key whose value follows. */
  candidate: string | undefined;
  rootKey: string | undefined;
  items: Span[] | undefined;
  itemsColumn: number | undefined;
  item: Span | undefined;

  startDocument(offset: number, line: number, column: number): void {
    this.endDocument(offset);
    this.doc = { ...span(offset, line, column), content: false };
    this.marked = false;
    this.splittable = true;
    this.flow = 0;
    this.block = [];
    this.rootKey = undefined;
    this.items = undefined;
    this.itemsColumn = undefined;
  }

  endDocument(offset: number): void {
    this.endItem(offset);
    this.doc.end = offset;
    if (this.items !== undefined && this.splittable) this.doc.items = this.items;
    if (this.doc.content) this.done.push(this.doc);
  }

  endItem(offset: number): void {
    if (this.item === undefined) return;
    this.item.end = offset;
    this.item = undefined;
  }

  count(at: Position): void {
    this.doc.values++;
    if (this.doc.values > MAX_OBJECT_VALUES) this.doc.tooMany ??= at;
    const item = this.item;
    if (item === undefined) return;
    item.values++;
    if (item.values > MAX_OBJECT_VALUES) item.tooMany ??= at;
  }
}

/** The documents of a text, in order, each as soon as it ends: linear in the text, and memory in
 * proportion to the List items of one document, however many documents there are. */
export function* scan(text: string): Generator<ScannedDocument> {
  const s = new Scanner();
  let offset = 0;
  let line = 1;
  let column = 0;
  let scalarNext = false;
  /** After `|` or `>`: the scalar that follows starts on the next line, at column 0 as the lexer sees it. */
  let blockScalar = false;
  for (const token of new Lexer().lex(text)) {
    if (s.done.length > 0) yield* s.done.splice(0);
    const start = offset;
    const at = column;
    const atLine = line;
    if (!MARKERS.has(token)) {
      offset += token.length;
      const newline = token.lastIndexOf("\n");
      if (newline >= 0) {
        for (let i = token.indexOf("\n"); i >= 0; i = token.indexOf("\n", i + 1)) line++;
        column = token.length - newline - 1;
      } else column += token.length;
    }
    if (scalarNext) {
      // A plain or block scalar's text (a block scalar's lines look like indentation to tokenType).
      scalarNext = false;
      if (s.flow === 0 && at === 0 && !blockScalar) s.candidate = token;
      blockScalar = false;
      continue;
    }
    const type =
      token === CST.SCALAR ? "scalar-start" : token === CST.DOCUMENT ? "document" : CST.tokenType(token);
    if (type === "document" || type === "doc-start" || type === "directive-line") {
      if (s.doc.content || s.marked) s.startDocument(start, atLine, at + 1);
      // Directives come before the document they belong to; `---` marks it.
      if (type === "doc-start") s.marked = true;
      if (type === "directive-line") s.splittable = false;
      continue;
    }
    if (type === "doc-end") {
      s.marked = true;
      continue;
    }
    if (type === null || NOT_CONTENT.has(type)) continue;
    s.doc.content = true;
    const key = s.candidate;
    s.candidate = undefined;
    if (type === "block-scalar-header") blockScalar = true;
    else if (s.flow === 0 && !(type === "scalar-start" && blockScalar))
      trackItems(s, type, key, start, atLine, at);
    switch (type) {
      case "flow-map-end":
      case "flow-seq-end":
        s.flow = Math.max(0, s.flow - 1);
        continue;
      case "anchor":
      case "alias":
        s.splittable = false;
        if (type === "anchor") continue;
        break;
      case "scalar-start":
        scalarNext = true;
        break;
      case "single-quoted-scalar":
      case "double-quoted-scalar":
        if (s.flow === 0 && at === 0) s.candidate = token.slice(1, -1);
        break;
      case "flow-map-start":
      case "flow-seq-start":
      case "seq-item-ind":
      case "explicit-key-ind":
        break;
      default:
        continue;
    }
    const position = { line: atLine, column: at + 1 };
    s.count(position);
    // Block nesting follows the columns where nodes start; inside flow collections brackets count.
    if (s.flow === 0) {
      while (s.block.length > 0 && (s.block.at(-1) as number) >= at) s.block.pop();
      s.block.push(at);
    }
    if (type === "flow-map-start" || type === "flow-seq-start") s.flow++;
    if (s.block.length + s.flow > MAX_DEPTH) s.doc.tooDeep ??= position;
  }
  s.endDocument(offset);
  yield* s.done;
}

/** Finds the items of a top-level `items:` block sequence (block context only). */
function trackItems(
  s: Scanner,
  type: string,
  key: string | undefined,
  start: number,
  line: number,
  column: number,
): void {
  if (type === "map-value-ind") {
    if (key !== undefined) s.rootKey = key;
    if (s.rootKey === "items" && s.items === undefined) s.items = [];
    return;
  }
  if (s.items === undefined) return;
  if (s.itemsColumn === undefined && s.rootKey === "items") {
    // The first node after `items:` decides: a block sequence is split, anything else is not.
    if (type === "seq-item-ind") s.itemsColumn = column;
    else s.splittable = false;
  }
  if (type === "seq-item-ind" && column === s.itemsColumn && s.rootKey === "items") {
    s.endItem(start);
    if (!s.splittable) return;
    if (s.items.length >= MAX_OBJECT_VALUES) {
      // More items than an object may hold values: the document is one object over the values limit,
      // and the items found so far are let go.
      s.splittable = false;
      s.items.length = 0;
      return;
    }
    s.item = span(start, line, column + 1);
    s.items.push(s.item);
  } else if (column === 0 && s.item !== undefined && type !== "seq-item-ind") {
    // A new top-level key ends the sequence.
    s.endItem(start);
    s.rootKey = undefined;
  }
}
