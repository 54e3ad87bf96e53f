/**
 * The part of Go's text/template that Flagger's MetricTemplate queries use, rendered byte for byte as
 * Flagger renders them (text/template with `missingkey=error`, nil data and one function per model
 * value). No npm library covers it: @ctrl/golang-template has no printf and no functions of one's own,
 * @mdfriday/text-template ships minified and obfuscated. test/metrics/go-template-oracle.test.ts
 * holds this against Go itself.
 *
 * Grammar (everything else in an action is refused with a TemplateError that names it):
 *
 *   template  = { text | action }
 *   action    = "{{" [ "-" space ] ( comment | pipeline ) [ space "-" ] "}}"
 *   comment   = "/*" any text "*\/"          (directly inside the delimiters, as in Go)
 *   pipeline  = command { "|" command }      (the value on the left is the last argument on the right)
 *   command   = operand { space operand }    (several operands: the first is the function)
 *   operand   = function [ "." key ] | string
 *   function  = one of the model's values (namespace, name, ...), called without arguments, or printf
 *   key       = letters, digits, "_"         (only after `variables`: `variables.KEY`)
 *   string    = Go "interpreted" string | Go `raw` string
 *
 * `{{-` trims the white space (space, tab, CR, LF) before the action, `-}}` the white space after it.
 * printf takes verbs %s, %v (the same for strings) and %%, with an optional `-` flag, width and
 * precision; too few or too many arguments print Go's %!s(MISSING) and %!(EXTRA string=...).
 */
export class TemplateError extends Error {
  override readonly name = "TemplateError";
}

/** A function's value: a string, or (for `variables`) a map read with `.KEY`. */
type TemplateValue = string | Readonly<Record<string, string>>;

/** What the template may call, by name; `call` throws a TemplateError for a value the Canary lacks. */
export interface TemplateFunctions {
  call(name: string): TemplateValue;
}

type Operand =
  | { kind: "string"; value: string }
  | { kind: "call"; name: string; key?: string; source: string };
type Command = Operand[];
type Node = { kind: "text"; text: string } | { kind: "action"; pipeline: Command[]; source: string };

const LEFT = "{{";
const RIGHT = "}}";
const SPACE = /[ \t\r\n]/;
const ALNUM = /[\p{L}\p{Nd}_]/u;
const LETTER = /[\p{L}_]/u;
const KEYWORDS = new Set([
  "if",
  "else",
  "end",
  "range",
  "with",
  "define",
  "template",
  "block",
  "break",
  "continue",
  "nil",
  "true",
  "false",
]);
/** Go's own template functions; of these Flagger's documentation uses printf only. */
const GO_BUILTINS = new Set([
  "and",
  "call",
  "html",
  "index",
  "slice",
  "js",
  "len",
  "not",
  "or",
  "print",
  "printf",
  "println",
  "urlquery",
  "eq",
  "ge",
  "gt",
  "le",
  "lt",
  "ne",
]);
const SUPPORTED_BUILTINS = ["printf"] as const;

const isSpace = (c: string | undefined) => c !== undefined && SPACE.test(c);

/** Parses a template; `functions` are the names the model defines (Go refuses any other at parse time). */
export function parseTemplate(input: string, functions: readonly string[]): Node[] {
  return new Parser(input, functions).parse();
}

/** Renders a parsed template as Go's text/template would. */
export function executeTemplate(nodes: readonly Node[], functions: TemplateFunctions): string {
  let out = "";
  for (const node of nodes) {
    out += node.kind === "text" ? node.text : runPipeline(node, functions);
  }
  return out;
}

class Parser {
  private pos = 0;
  private readonly nodes: Node[] = [];
  private readonly input: string;
  private readonly functions: readonly string[];

  constructor(input: string, functions: readonly string[]) {
    this.input = input;
    this.functions = functions;
  }

  parse(): Node[] {
    let trimNext = false;
    while (this.pos < this.input.length) {
      const open = this.input.indexOf(LEFT, this.pos);
      let text = this.input.slice(this.pos, open < 0 ? undefined : open);
      if (trimNext) text = text.replace(/^[ \t\r\n]+/, "");
      if (open < 0) {
        this.addText(text);
        break;
      }
      const trimLeft = this.input[open + 2] === "-" && isSpace(this.input[open + 3]);
      this.addText(trimLeft ? text.replace(/[ \t\r\n]+$/, "") : text);
      this.pos = open + 2 + (trimLeft ? 2 : 0);
      trimNext = this.action(open);
    }
    return this.nodes;
  }

  private addText(text: string): void {
    if (text !== "") this.nodes.push({ kind: "text", text });
  }

  /** Reads one action after its left delimiter; returns whether it ends with a trim marker. */
  private action(start: number): boolean {
    if (this.input.startsWith("/*", this.pos)) return this.comment(start);
    const pipeline: Command[] = [[]];
    for (;;) {
      const end = this.rightDelim();
      if (end !== undefined) {
        const source = this.input.slice(start, this.pos);
        // Go lets a pipeline end with "|" (nothing follows it).
        if (pipeline.length > 1 && pipeline.at(-1)?.length === 0) pipeline.pop();
        this.nodes.push({ kind: "action", pipeline: checkPipeline(pipeline, source), source });
        return end;
      }
      const c = this.input[this.pos];
      if (c === undefined) throw new TemplateError(`unclosed action ${this.snippet(start)}`);
      if (isSpace(c)) this.pos++;
      else if (c === "|") {
        if (pipeline.at(-1)?.length === 0)
          throw new TemplateError(`unexpected "|" in command in ${this.snippet(start)}`);
        pipeline.push([]);
        this.pos++;
      } else (pipeline.at(-1) as Command).push(this.operand(start));
    }
  }

  private comment(start: number): boolean {
    const close = this.input.indexOf("*/", this.pos + 2);
    if (close < 0) throw new TemplateError(`unclosed comment ${this.snippet(start)}`);
    this.pos = close + 2;
    const end = this.rightDelim();
    if (end === undefined)
      throw new TemplateError(`comment ends before closing delimiter in ${this.snippet(start)}`);
    return end;
  }

  /** The start of an action for a message: up to its end, at most 60 characters. */
  private snippet(start: number): string {
    const end = this.input.indexOf(RIGHT, start + 2);
    const text = this.input.slice(start, end < 0 ? undefined : end + 2).trimEnd();
    return text.length > 60 ? `${text.slice(0, 60)}...` : text;
  }

  /** At `}}` or ` -}}`: steps over it and returns whether it trims; otherwise undefined. */
  private rightDelim(): boolean | undefined {
    const { input, pos } = this;
    if (isSpace(input[pos]) && input[pos + 1] === "-" && input.startsWith(RIGHT, pos + 2)) {
      this.pos += 4;
      return true;
    }
    if (input.startsWith(RIGHT, pos)) {
      this.pos += 2;
      return false;
    }
    return undefined;
  }

  private operand(start: number): Operand {
    const c = this.input[this.pos] as string;
    if (c === '"') return { kind: "string", value: this.quoted(start) };
    if (c === "`") return { kind: "string", value: this.raw(start) };
    if (LETTER.test(c)) return this.call();
    const action = this.input.slice(start, this.input.indexOf(RIGHT, this.pos) + 2 || undefined);
    throw new TemplateError(`${describe(c)} in ${action} is not supported: ${SUPPORTED}`);
  }

  /** Letters, digits and _, ended where Go's lexer ends a name; `what` says what the name is for. */
  private word(what = ""): string {
    const from = this.pos;
    while (this.pos < this.input.length && ALNUM.test(this.input[this.pos] as string)) this.pos++;
    const after = this.input[this.pos];
    const terminated =
      after === undefined ||
      isSpace(after) ||
      after === "|" ||
      after === "." ||
      this.input.startsWith(RIGHT, this.pos);
    if (!terminated)
      throw new TemplateError(
        `bad character ${JSON.stringify(after)} after ${this.input.slice(from, this.pos)}${what}`,
      );
    return this.input.slice(from, this.pos);
  }

  private call(): Operand {
    const from = this.pos;
    const name = this.word();
    if (KEYWORDS.has(name)) throw new TemplateError(`{{ ${name} }} is not supported: ${SUPPORTED}`);
    if (!this.functions.includes(name) && !GO_BUILTINS.has(name)) {
      throw new TemplateError(`function "${name}" is not defined: the functions are ${this.known()}`);
    }
    if (GO_BUILTINS.has(name) && !(SUPPORTED_BUILTINS as readonly string[]).includes(name)) {
      throw new TemplateError(
        `function "${name}" is not supported (kanaria renders the functions Flagger's documentation uses: ${this.known()})`,
      );
    }
    if (this.input[this.pos] !== ".") return { kind: "call", name, source: name };
    this.pos++;
    const key = this.word(
      ": a key read as {{ variables.KEY }} holds only letters, digits and _ (Go's text/template ends it there); rename the templateVariables key",
    );
    if (key === "" || /^[0-9]/.test(key) || this.input[this.pos] === ".") {
      throw new TemplateError(
        `${this.input.slice(from, this.pos + 1)}: only one .KEY after variables is supported`,
      );
    }
    return { kind: "call", name, key, source: `${name}.${key}` };
  }

  private known(): string {
    return [...this.functions, ...SUPPORTED_BUILTINS].join(", ");
  }

  private quoted(start: number): string {
    let value = "";
    for (let i = this.pos + 1; ; i++) {
      const c = this.input[i];
      if (c === undefined || c === "\n")
        throw new TemplateError(`unterminated quoted string in ${this.snippet(start)}`);
      if (c === '"') {
        this.pos = i + 1;
        return value;
      }
      if (c !== "\\") {
        value += c;
        continue;
      }
      const [text, length] = goEscape(this.input, i + 1);
      value += text;
      i += length;
    }
  }

  private raw(start: number): string {
    const close = this.input.indexOf("`", this.pos + 1);
    if (close < 0) throw new TemplateError(`unterminated raw quoted string in ${this.snippet(start)}`);
    const value = this.input.slice(this.pos + 1, close).replaceAll("\r", ""); // as strconv.Unquote does
    this.pos = close + 1;
    return value;
  }
}

const SUPPORTED =
  "a query may use the model's functions ({{ namespace }}, {{ variables.KEY }}, ...), printf, strings and pipes";

function describe(c: string): string {
  if (c === ".") return "a field or dot (.)";
  if (c === "$") return "a template variable ($)";
  if (c === "(" || c === ")") return "a parenthesis";
  if (/[0-9+-]/.test(c)) return "a number";
  return `the character ${JSON.stringify(c)}`;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
  "\\": "\\",
  '"': '"',
};

/** One escape of a Go interpreted string (strconv.Unquote), starting after the backslash:
 * its text and how many characters it spans. \x and octal escapes above 0x7f are raw bytes in Go,
 * which a JavaScript string cannot hold, so they are refused. */
function goEscape(input: string, at: number): [string, number] {
  const c = input[at] as string;
  const simple = SIMPLE_ESCAPES[c];
  if (simple !== undefined) return [simple, 1];
  const hexLength = c === "x" ? 2 : c === "u" ? 4 : c === "U" ? 8 : 0;
  const digits = hexLength > 0 ? input.slice(at + 1, at + 1 + hexLength) : input.slice(at, at + 3);
  const valid = hexLength > 0 ? /^[0-9a-fA-F]+$/ : /^[0-7]{3}$/;
  if (digits.length === (hexLength || 3) && valid.test(digits)) {
    const code = Number.parseInt(digits, hexLength > 0 ? 16 : 8);
    const byte = hexLength === 0 || c === "x";
    const rune = !byte && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
    if ((byte && code < 0x80) || rune) return [String.fromCodePoint(code), (hexLength || 2) + 1];
    if (byte && code <= 0xff)
      throw new TemplateError(`the escape \\${c}${digits} is a byte above 0x7f: write the character itself`);
  }
  throw new TemplateError(`invalid escape \\${c} in a quoted string`);
}

/** Static checks Go makes when the template is parsed or run, whatever the values. */
function checkPipeline(pipeline: Command[], source: string): Command[] {
  if (pipeline.some((command) => command.length === 0))
    throw new TemplateError(`missing value for command in ${source}`);
  pipeline.forEach((command, i) => {
    const [head, ...args] = command as [Operand, ...Operand[]];
    const argCount = args.length + (i > 0 ? 1 : 0);
    for (const operand of command) {
      if (operand.kind === "call" && operand.name === "printf" && operand !== head) {
        throw new TemplateError(
          `printf as an argument needs parentheses, which are not supported, in ${source}`,
        );
      }
      if (
        operand.kind === "call" &&
        operand.name !== "printf" &&
        (operand.name === "variables") !== (operand.key !== undefined)
      ) {
        throw new TemplateError(
          operand.key === undefined
            ? `{{ variables }} needs a key: write {{ variables.KEY }} in ${source}`
            : `${operand.source}: ${operand.name} is a string and has no field ${operand.key}, in ${source}`,
        );
      }
    }
    if (head.kind === "call" && head.name === "printf") {
      if (argCount === 0) throw new TemplateError(`printf needs a format in ${source}`);
      if (args[0]?.kind === "string") checkFormat(args[0].value, source);
    } else if (argCount > 0) {
      const what = head.kind === "string" || head.key !== undefined ? "a value" : `function ${head.name}`;
      throw new TemplateError(`${what} takes no arguments, in ${source}`);
    }
  });
  return pipeline;
}

function runPipeline(node: Extract<Node, { kind: "action" }>, functions: TemplateFunctions): string {
  let piped: string | undefined;
  for (const [head, ...args] of node.pipeline as [Operand, ...Operand[]][]) {
    const values = args.map((a) => evaluate(a, functions));
    if (piped !== undefined) values.push(piped);
    if (head.kind === "call" && head.name === "printf") {
      const [format = "", ...rest] = values;
      checkFormat(format, node.source);
      piped = sprintf(format, rest);
    } else piped = evaluate(head, functions);
  }
  return piped as string;
}

function evaluate(operand: Operand, functions: TemplateFunctions): string {
  if (operand.kind === "string") return operand.value;
  const value = functions.call(operand.name);
  if (typeof value === "string") return value;
  const entry = Object.hasOwn(value, operand.key as string) ? value[operand.key as string] : undefined;
  if (entry === undefined) {
    const defined = Object.keys(value);
    throw new TemplateError(
      `unknown variable {{ ${operand.source} }}: the metric's templateVariables define ${defined.length > 0 ? defined.join(", ") : "nothing"}`,
    );
  }
  return entry;
}

const VERB = /%(-?)([0-9]*)(?:\.([0-9]*))?(.?)/gsu;

/** Refuses a printf format kanaria cannot render as Go's fmt does. */
function checkFormat(format: string, source: string): void {
  for (const [, , width, precision, verb] of format.matchAll(VERB)) {
    if (!["s", "v", "%"].includes(verb as string)) {
      const shown = verb === "" ? "a % at the end" : `the verb or flag %${verb}`;
      throw new TemplateError(
        `printf: ${shown} is not supported in ${source}: use %s (with a - flag, width, precision) or %%`,
      );
    }
    if (width?.startsWith("0") || Number(width) > 999 || Number(precision ?? 0) > 999) {
      throw new TemplateError(
        `printf: a 0 flag or a width or precision above 999 is not supported in ${source}`,
      );
    }
  }
}

/** Go's fmt.Sprintf for string arguments and the verbs checkFormat lets through. */
function sprintf(format: string, args: readonly string[]): string {
  let next = 0;
  const out = format.replace(
    VERB,
    (_all, minus: string, width: string, precision: string | undefined, verb: string) => {
      if (verb === "%") return "%";
      if (next >= args.length) return `%!${verb}(MISSING)`;
      let runes = [...(args[next++] as string)];
      if (precision !== undefined) runes = runes.slice(0, Number(precision));
      const pad = " ".repeat(Math.max(0, Number(width) - runes.length));
      return minus ? runes.join("") + pad : pad + runes.join("");
    },
  );
  if (next >= args.length) return out;
  return `${out}%!(EXTRA ${args
    .slice(next)
    .map((a) => `string=${a}`)
    .join(", ")})`;
}
