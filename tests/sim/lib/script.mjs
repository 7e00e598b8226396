// aws___run_script's interpreter: parses (never evals) a small Python subset and runs it.
// Statements: `NAME = EXPR`, bare `EXPR` (e.g. `await call_boto3(...)`, `print(...)`),
// `return [EXPR]`, `import json`, `pass`. Expressions: Python literals (str with every escape,
// int, float, True/False/None, list, tuple, dict, set), names, subscripts, `await`, and the
// callables call_boto3, print, len, str, repr, json.dumps, json.loads, dict.get.
// Anything else is a Python-like error. Uses pytokens.mjs and pyvalues.mjs.
import { tokenize } from './pytokens.mjs';
import {
  PyCoroutine, PyDict, PyError, PyFloat, PySet, PyTuple, pyJsonDumps, pyRepr, pyStr, toPy, toReturnJSON, typeName,
} from './pyvalues.mjs';

const UNSUPPORTED_KEYWORDS = new Set([
  'if', 'elif', 'else', 'for', 'while', 'def', 'class', 'try', 'except', 'finally', 'with', 'async', 'lambda',
  'yield', 'raise', 'del', 'global', 'nonlocal', 'assert', 'break', 'continue', 'from', 'match',
]);
const KEYWORDS = new Set([...UNSUPPORTED_KEYWORDS, 'False', 'None', 'True', 'and', 'as', 'await', 'import', 'in', 'is', 'not', 'or', 'pass', 'return']);
const STOP = new Set([',', ')', ']', '}', ':', '=', ';']);
const MAX_DEPTH = 100;

function syntaxError(message, line) {
  return new PyError('SyntaxError', `${message} (<string>, line ${line})`, line);
}

function unsupported(what, line) {
  return new PyError('NotImplementedError', `opsrun-sim cannot run ${what} (line ${line})`, line);
}

/** Recursive-descent parser from tokens to a list of statement nodes. */
class Parser {
  constructor(tokens) {
    this.tokens = tokens;
    this.pos = 0;
    this.depth = 0;
  }

  peek(offset = 0) {
    return this.tokens[this.pos + offset];
  }

  next() {
    return this.tokens[this.pos++];
  }

  isOp(value, offset = 0) {
    const t = this.peek(offset);
    return t.type === 'op' && t.value === value;
  }

  expectOp(value) {
    const t = this.next();
    if (t.type !== 'op' || t.value !== value) throw this.invalid(t);
    return t;
  }

  invalid(t) {
    if (t.type === 'op' && !STOP.has(t.value) && !'([{'.includes(t.value)) {
      return unsupported(`the operator '${t.value}'`, t.line);
    }
    return syntaxError('invalid syntax', t.line);
  }

  program() {
    const statements = [];
    while (this.peek().type !== 'eof') {
      statements.push(this.statement());
      if (this.isOp(';')) {
        this.next();
        if (this.peek().type === 'newline') this.next();
        continue;
      }
      const end = this.next();
      if (end.type !== 'newline' && end.type !== 'eof') throw this.invalid(end);
    }
    return statements;
  }

  statement() {
    const t = this.peek();
    const line = t.line;
    if (t.type === 'indent') throw new PyError('IndentationError', `unexpected indent (<string>, line ${line})`, line);
    if (t.type === 'name' && UNSUPPORTED_KEYWORDS.has(t.value)) throw unsupported(`'${t.value}' statements`, line);
    if (t.type === 'name' && t.value === 'pass') {
      this.next();
      return { kind: 'pass', line };
    }
    if (t.type === 'name' && t.value === 'import') {
      this.next();
      const name = this.next();
      if (name.type !== 'name' || KEYWORDS.has(name.value)) throw syntaxError('invalid syntax', line);
      if (name.value !== 'json') throw unsupported(`'import ${name.value}' (only json is available)`, line);
      return { kind: 'pass', line };
    }
    if (t.type === 'name' && t.value === 'return') {
      this.next();
      const bare = this.peek().type === 'newline' || this.peek().type === 'eof' || this.isOp(';');
      return { kind: 'return', expr: bare ? null : this.exprList(), line };
    }
    if (t.type === 'name' && !KEYWORDS.has(t.value) && this.isOp('=', 1)) {
      this.pos += 2;
      return { kind: 'assign', name: t.value, expr: this.exprList(), line };
    }
    const expr = this.exprList();
    if (this.isOp('=')) throw syntaxError('cannot assign to expression here. Maybe you meant \'==\' instead of \'=\'?', line);
    const after = this.peek();
    if (after.type === 'op' && /^[-+*/%@&|^<>]{1,2}=$|^\*\*=$|^\/\/=$/.test(after.value)) {
      throw unsupported(`augmented assignment '${after.value}'`, line);
    }
    return { kind: 'expr', expr, line };
  }

  /** EXPR or a bare tuple `a, b`. */
  exprList() {
    const first = this.expr();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.isOp(',')) {
      this.next();
      if (this.atExprEnd()) break;
      items.push(this.expr());
    }
    return { kind: 'tuple', items, line: first.line };
  }

  atExprEnd() {
    const t = this.peek();
    return t.type === 'newline' || t.type === 'eof' || (t.type === 'op' && STOP.has(t.value) && t.value !== '(');
  }

  expr() {
    if (++this.depth > MAX_DEPTH) throw new PyError('RecursionError', 'maximum recursion depth exceeded during parsing', this.peek().line);
    try {
      const t = this.peek();
      let node;
      if (t.type === 'name' && t.value === 'await') {
        this.next();
        node = { kind: 'await', expr: this.unary(), line: t.line };
      } else {
        node = this.unary();
      }
      const after = this.peek();
      if (after.type === 'name' && ['and', 'or', 'not', 'in', 'is', 'if', 'for', 'lambda'].includes(after.value)) {
        throw unsupported(`'${after.value}' expressions`, after.line);
      }
      if (after.type === 'op' && !STOP.has(after.value)) throw this.invalid(after);
      if (after.type === 'number' || after.type === 'string' || (after.type === 'name' && after.value !== 'else')) {
        throw syntaxError('invalid syntax. Perhaps you forgot a comma?', after.line);
      }
      return node;
    } finally {
      this.depth--;
    }
  }

  unary() {
    const t = this.peek();
    if (t.type === 'op' && (t.value === '-' || t.value === '+')) {
      this.next();
      return { kind: 'unary', op: t.value, expr: this.unary(), line: t.line };
    }
    if (t.type === 'name' && t.value === 'await') {
      this.next();
      return { kind: 'await', expr: this.unary(), line: t.line };
    }
    return this.postfix();
  }

  postfix() {
    let node = this.atom();
    for (;;) {
      const t = this.peek();
      if (t.type !== 'op') return node;
      if (t.value === '[') {
        this.next();
        if (this.isOp(']')) throw syntaxError('invalid syntax', t.line);
        const index = this.exprList();
        if (this.isOp(':')) throw unsupported('slices', t.line);
        this.expectOp(']');
        node = { kind: 'subscript', target: node, index, line: t.line };
      } else if (t.value === '(') {
        this.next();
        node = { kind: 'call', target: node, ...this.callArgs(), line: t.line };
      } else if (t.value === '.') {
        this.next();
        const name = this.next();
        if (name.type !== 'name') throw syntaxError('invalid syntax', t.line);
        node = { kind: 'attr', target: node, name: name.value, line: t.line };
      } else {
        return node;
      }
    }
  }

  callArgs() {
    const args = [];
    const kwargs = [];
    const seen = new Set();
    while (!this.isOp(')')) {
      const t = this.peek();
      if (t.type === 'op' && (t.value === '*' || t.value === '**')) throw unsupported('argument unpacking', t.line);
      if (t.type === 'name' && !KEYWORDS.has(t.value) && this.isOp('=', 1)) {
        this.pos += 2;
        if (seen.has(t.value)) throw syntaxError(`keyword argument repeated: ${t.value}`, t.line);
        seen.add(t.value);
        kwargs.push([t.value, this.expr()]);
      } else {
        if (kwargs.length) throw syntaxError('positional argument follows keyword argument', t.line);
        args.push(this.expr());
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp(')');
    return { args, kwargs };
  }

  /** Items of a bracketed display up to `close`, allowing a trailing comma. */
  items(close, parseItem) {
    const items = [];
    let trailingComma = false;
    while (!this.isOp(close)) {
      items.push(parseItem());
      trailingComma = false;
      if (!this.isOp(',')) break;
      this.next();
      trailingComma = true;
    }
    this.expectOp(close);
    return { items, trailingComma };
  }

  atom() {
    const t = this.next();
    const line = t.line;
    if (t.type === 'number') return { kind: 'const', value: t.value, line };
    if (t.type === 'string') {
      let value = t.value;
      while (this.peek().type === 'string') value += this.next().value;
      return { kind: 'const', value, line };
    }
    if (t.type === 'name') {
      if (t.value === 'None') return { kind: 'const', value: null, line };
      if (t.value === 'True') return { kind: 'const', value: true, line };
      if (t.value === 'False') return { kind: 'const', value: false, line };
      if (KEYWORDS.has(t.value)) throw UNSUPPORTED_KEYWORDS.has(t.value) ? unsupported(`'${t.value}' expressions`, line) : syntaxError('invalid syntax', line);
      return { kind: 'name', name: t.value, line };
    }
    if (t.type === 'op' && t.value === '(') {
      const { items, trailingComma } = this.items(')', () => this.expr());
      if (items.length === 1 && !trailingComma) return items[0];
      return { kind: 'tuple', items, line };
    }
    if (t.type === 'op' && t.value === '[') {
      return { kind: 'list', items: this.items(']', () => this.expr()).items, line };
    }
    if (t.type === 'op' && t.value === '{') return this.braces(line);
    throw this.invalid(t);
  }

  braces(line) {
    if (this.isOp('}')) {
      this.next();
      return { kind: 'dict', entries: [], line };
    }
    const first = this.expr();
    if (!this.isOp(':')) {
      const rest = this.isOp(',') ? (this.next(), this.items('}', () => this.expr()).items) : (this.expectOp('}'), []);
      return { kind: 'set', items: [first, ...rest], line };
    }
    this.next();
    const entries = [[first, this.expr()]];
    if (this.isOp(',')) {
      this.next();
      entries.push(
        ...this.items('}', () => {
          const key = this.expr();
          this.expectOp(':');
          return [key, this.expr()];
        }).items,
      );
    } else {
      this.expectOp('}');
    }
    return { kind: 'dict', entries, line };
  }
}

/** Parses `code` into statements; throws PyError (SyntaxError and friends). */
export function parseScript(code) {
  return new Parser(tokenize(code)).program();
}

function builtin(name, call) {
  return { pyType: 'builtin_function_or_method', name, call };
}

function bindArgs(fname, spec, args, kwargs, line) {
  const bound = {};
  const names = spec.map(([n]) => n);
  if (args.length > names.length) {
    const required = spec.filter(([, req]) => req).length;
    const range = required === names.length ? `${names.length}` : `from ${required} to ${names.length}`;
    throw new PyError('TypeError', `${fname}() takes ${range} positional arguments but ${args.length} were given`, line);
  }
  args.forEach((v, i) => (bound[names[i]] = v));
  for (const [k, v] of kwargs) {
    if (!names.includes(k)) throw new PyError('TypeError', `${fname}() got an unexpected keyword argument '${k}'`, line);
    if (k in bound) throw new PyError('TypeError', `${fname}() got multiple values for argument '${k}'`, line);
    bound[k] = v;
  }
  const missing = spec.filter(([n, req]) => req && !(n in bound)).map(([n]) => `'${n}'`);
  if (missing.length) {
    const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} and ${missing[missing.length - 1]}`;
    throw new PyError('TypeError', `${fname}() missing ${missing.length} required positional argument${missing.length > 1 ? 's' : ''}: ${list}`, line);
  }
  for (const [n, , def] of spec) if (!(n in bound)) bound[n] = def ?? null;
  return bound;
}

/**
 * Runs parsed statements. `host.callBoto3({service_name, operation_name, region_name, params})`
 * returns plain data or throws PyError; it is called when the coroutine is awaited.
 */
class Interpreter {
  constructor(host) {
    this.host = host;
    this.stdout = '';
    const json = {
      pyType: 'module',
      name: 'json',
      attrs: {
        dumps: builtin('dumps', (args, kwargs, line) => {
          const b = bindArgs('dumps', [['obj', true], ['indent'], ['sort_keys', false, false], ['default'], ['ensure_ascii', false, true], ['separators']], args, kwargs, line);
          const defaultFn = b.default ? (x) => this.callValue(b.default, [x], [], line) : null;
          return pyJsonDumps(b.obj, { indent: b.indent, sortKeys: b.sort_keys, defaultFn, ensureAscii: b.ensure_ascii });
        }),
        loads: builtin('loads', (args, kwargs, line) => {
          const { s } = bindArgs('loads', [['s', true]], args, kwargs, line);
          if (typeof s !== 'string') throw new PyError('TypeError', `the JSON object must be str, bytes or bytearray, not ${typeName(s)}`, line);
          try {
            return toPy(JSON.parse(s));
          } catch {
            throw new PyError('json.decoder.JSONDecodeError', 'Expecting value: line 1 column 1 (char 0)', line);
          }
        }),
      },
    };
    this.globals = new Map([
      ['json', json],
      ['call_boto3', builtin('call_boto3', (args, kwargs, line) => {
        const b = bindArgs('call_boto3', [['service_name', true], ['operation_name', true], ['region_name'], ['params']], args, kwargs, line);
        return new PyCoroutine(() => toPy(this.host.callBoto3(b, line)));
      })],
      ['print', builtin('print', (args, kwargs, line) => {
        const opts = Object.fromEntries(kwargs);
        for (const k of Object.keys(opts)) {
          if (!['sep', 'end', 'flush'].includes(k)) throw new PyError('TypeError', `'${k}' is an invalid keyword argument for print()`, line);
        }
        const sep = opts.sep ?? ' ';
        const end = opts.end ?? '\n';
        this.stdout += args.map(pyStr).join(pyStr(sep)) + pyStr(end);
        return null;
      })],
      ['len', builtin('len', (args, kwargs, line) => {
        const { obj } = bindArgs('len', [['obj', true]], args, kwargs, line);
        if (typeof obj === 'string') return [...obj].length;
        if (Array.isArray(obj)) return obj.length;
        if (obj instanceof PyTuple || obj instanceof PySet) return obj.items.length;
        if (obj instanceof PyDict) return obj.size;
        throw new PyError('TypeError', `object of type '${typeName(obj)}' has no len()`, line);
      })],
      ['str', builtin('str', (args, kwargs, line) => pyStr(bindArgs('str', [['object', false, '']], args, kwargs, line).object))],
      ['repr', builtin('repr', (args, kwargs, line) => pyRepr(bindArgs('repr', [['obj', true]], args, kwargs, line).obj))],
    ]);
  }

  run(statements) {
    for (const st of statements) {
      this.line = st.line;
      if (st.kind === 'assign') this.globals.set(st.name, this.eval(st.expr));
      else if (st.kind === 'expr') this.eval(st.expr);
      else if (st.kind === 'return') return st.expr ? this.eval(st.expr) : null;
    }
    return null;
  }

  callValue(fn, args, kwargs, line) {
    if (fn && typeof fn.call === 'function' && fn.pyType === 'builtin_function_or_method') return fn.call(args, kwargs, line);
    throw new PyError('TypeError', `'${typeName(fn)}' object is not callable`, line);
  }

  eval(node) {
    const line = node.line;
    switch (node.kind) {
      case 'const':
        return node.value;
      case 'name': {
        if (!this.globals.has(node.name)) throw new PyError('NameError', `name '${node.name}' is not defined`, line);
        return this.globals.get(node.name);
      }
      case 'list':
        return node.items.map((e) => this.eval(e));
      case 'tuple':
        return new PyTuple(node.items.map((e) => this.eval(e)));
      case 'set':
        return new PySet(node.items.map((e) => this.eval(e)));
      case 'dict': {
        const dict = new PyDict();
        for (const [k, v] of node.entries) dict.set(this.eval(k), this.eval(v));
        return dict;
      }
      case 'unary':
        return this.unary(node.op, this.eval(node.expr), line);
      case 'await':
        return this.await(this.eval(node.expr), line);
      case 'subscript':
        return this.subscript(this.eval(node.target), this.eval(node.index), line);
      case 'attr':
        return this.attr(this.eval(node.target), node.name, line);
      case 'call': {
        const fn = this.eval(node.target);
        const args = node.args.map((a) => this.eval(a));
        const kwargs = node.kwargs.map(([k, v]) => [k, this.eval(v)]);
        return this.callValue(fn, args, kwargs, line);
      }
      default:
        throw new PyError('SystemError', `unknown node ${node.kind}`, line);
    }
  }

  unary(op, v, line) {
    if (typeof v === 'number') return op === '-' ? (v === 0 ? 0 : -v) : v;
    if (typeof v === 'bigint') return op === '-' ? -v : v;
    if (typeof v === 'boolean') return op === '-' ? -Number(v) : Number(v);
    if (v instanceof PyFloat) return op === '-' ? new PyFloat(-v.value) : v;
    throw new PyError('TypeError', `bad operand type for unary ${op}: '${typeName(v)}'`, line);
  }

  await(v, line) {
    if (!(v instanceof PyCoroutine)) throw new PyError('TypeError', `object ${typeName(v)} can't be used in 'await' expression`, line);
    if (v.done) throw new PyError('RuntimeError', 'cannot reuse already awaited coroutine', line);
    v.done = true;
    return v.run();
  }

  subscript(target, index, line) {
    if (target instanceof PyDict) {
      if (!target.has(index)) throw new PyError('KeyError', pyRepr(index), line);
      return target.get(index);
    }
    const seq = Array.isArray(target) ? target : target instanceof PyTuple ? target.items : typeof target === 'string' ? [...target] : null;
    if (!seq) throw new PyError('TypeError', `'${typeName(target)}' object is not subscriptable`, line);
    const what = Array.isArray(target) ? 'list' : target instanceof PyTuple ? 'tuple' : 'string';
    if (typeof index === 'boolean') index = Number(index);
    if (typeof index !== 'number') throw new PyError('TypeError', `${what} indices must be integers or slices, not ${typeName(index)}`, line);
    const i = index < 0 ? seq.length + index : index;
    if (i < 0 || i >= seq.length) throw new PyError('IndexError', `${what} index out of range`, line);
    return seq[i];
  }

  attr(target, name, line) {
    if (target?.pyType === 'module') {
      if (!(name in target.attrs)) throw new PyError('AttributeError', `module '${target.name}' has no attribute '${name}'`, line);
      return target.attrs[name];
    }
    if (target instanceof PyDict && name === 'get') {
      return builtin('get', (args, kwargs, l) => {
        if (kwargs.length) throw new PyError('TypeError', 'dict.get() takes no keyword arguments', l);
        if (args.length < 1 || args.length > 2) throw new PyError('TypeError', `get expected at most 2 arguments, got ${args.length}`, l);
        return target.has(args[0]) ? target.get(args[0]) : args[1] ?? null;
      });
    }
    throw new PyError('AttributeError', `'${typeName(target)}' object has no attribute '${name}'`, line);
  }
}

/**
 * Runs `code` and returns the hosted server's envelope:
 * { status, return_value, api_calls, stdout, stderr, error }.
 * `host.callBoto3(args, line)` performs one simulated call (and records it in api_calls).
 */
export function runScript(code, host) {
  const apiCalls = [];
  const interp = new Interpreter({
    callBoto3: (args, line) => host.callBoto3(args, line, apiCalls),
  });
  try {
    if (typeof code !== 'string' || code.trim() === '') throw new PyError('ValueError', 'code must be a non-empty string', 1);
    if (code.length > 200000) throw new PyError('ValueError', 'code is longer than 200000 characters', 1);
    const statements = parseScript(code);
    const value = interp.run(statements);
    const returnValue = toReturnJSON(value);
    return { status: 'success', return_value: returnValue, api_calls: apiCalls, stdout: interp.stdout, stderr: '', error: null };
  } catch (err) {
    if (!(err instanceof PyError)) throw err;
    const line = err.line ?? interp.line ?? 1;
    const text = err.toString();
    const trace = err.type === 'SyntaxError' || err.type === 'IndentationError'
      ? `  File "<string>", line ${line}\n${text}\n`
      : `Traceback (most recent call last):\n  File "<string>", line ${line}, in <module>\n${text}\n`;
    return { status: 'error', return_value: null, api_calls: apiCalls, stdout: interp.stdout, stderr: trace, error: text };
  }
}
