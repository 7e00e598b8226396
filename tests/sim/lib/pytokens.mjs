// Tokenizer for the small Python subset aws___run_script accepts: names, numbers, string
// literals with Python's exact escape rules, operators, logical newlines (brackets and
// backslashes join lines) and comments. Never evaluates anything. Uses pyvalues.mjs errors.
import { PyError, PyFloat } from './pyvalues.mjs';

const OPERATORS = [
  '**=', '//=', '>>=', '<<=', '...', '->', ':=', '==', '!=', '<=', '>=', '**', '//', '<<', '>>',
  '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=',
  '(', ')', '[', ']', '{', '}', ',', ':', ';', '.', '=', '+', '-', '*', '/', '%', '<', '>', '&', '|', '^', '~', '@',
];
const OPENERS = { '(': ')', '[': ']', '{': '}' };
const SIMPLE_ESCAPES = { '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
const NAME_START = /[\p{L}_]/u;
const NAME_REST = /[\p{L}\p{N}_]/u;

function syntaxError(message, line) {
  return new PyError('SyntaxError', `${message} (<string>, line ${line})`, line);
}

/** Decodes the body of a non-raw string literal (between its quotes). */
function decodeEscapes(body, line) {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch !== '\\') {
      out += ch;
      continue;
    }
    const next = body[++i];
    if (next === '\n') continue;
    if (next in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[next];
    } else if (next >= '0' && next <= '7') {
      let digits = next;
      while (digits.length < 3 && body[i + 1] >= '0' && body[i + 1] <= '7') digits += body[++i];
      out += String.fromCodePoint(parseInt(digits, 8));
    } else if (next === 'x' || next === 'u' || next === 'U') {
      const width = { x: 2, u: 4, U: 8 }[next];
      const hex = body.slice(i + 1, i + 1 + width);
      const start = i - 1;
      if (!new RegExp(`^[0-9a-fA-F]{${width}}$`).test(hex)) {
        const valid = /^[0-9a-fA-F]*/.exec(hex)[0].length;
        const kind = next === 'x' ? '\\xXX' : next === 'u' ? '\\uXXXX' : '\\UXXXXXXXX';
        throw syntaxError(`(unicode error) 'unicodeescape' codec can't decode bytes in position ${start}-${i + valid}: truncated ${kind} escape`, line);
      }
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) {
        throw syntaxError(`(unicode error) 'unicodeescape' codec can't decode bytes in position ${start}-${i + width}: illegal Unicode character`, line);
      }
      out += String.fromCodePoint(code);
      i += width;
    } else if (next === 'N') {
      throw new PyError('NotImplementedError', `\\N{...} escapes are not supported by opsrun-sim (line ${line})`, line);
    } else {
      out += '\\' + (next ?? '');
    }
  }
  return out;
}

class Tokenizer {
  constructor(src) {
    this.src = src.replace(/\r\n?/g, '\n');
    this.i = 0;
    this.line = 1;
    this.depth = [];
    this.tokens = [];
    this.atLineStart = true;
  }

  push(type, value, line = this.line) {
    this.tokens.push({ type, value, line });
  }

  run() {
    const src = this.src;
    while (this.i < src.length) {
      if (this.atLineStart && this.depth.length === 0 && this.lineStart()) continue;
      const ch = src[this.i];
      if (ch === ' ' || ch === '\t' || ch === '\f') {
        this.i++;
      } else if (ch === '#') {
        while (this.i < src.length && src[this.i] !== '\n') this.i++;
      } else if (ch === '\\') {
        if (src[this.i + 1] !== '\n') throw syntaxError('unexpected character after line continuation character', this.line);
        this.i += 2;
        this.line++;
      } else if (ch === '\n') {
        if (this.depth.length === 0) this.newline();
        this.i++;
        this.line++;
        if (this.depth.length === 0) this.atLineStart = true;
      } else if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(src[this.i + 1] ?? ''))) {
        this.number();
      } else if (NAME_START.test(ch)) {
        this.nameOrString();
      } else if (ch === '"' || ch === "'") {
        this.string('');
      } else {
        this.operator();
      }
    }
    if (this.depth.length) {
      const [opener, line] = this.depth[this.depth.length - 1];
      throw syntaxError(`'${opener}' was never closed`, line);
    }
    this.newline();
    this.push('eof', null);
    return this.tokens;
  }

  /** At the start of a logical line: skips blank and comment lines, refuses indentation. */
  lineStart() {
    const src = this.src;
    let j = this.i;
    while (src[j] === ' ' || src[j] === '\t' || src[j] === '\f') j++;
    if (src[j] === '\n' || src[j] === '#' || j >= src.length) {
      while (j < src.length && src[j] !== '\n') j++;
      this.i = j < src.length ? j + 1 : j;
      if (j < src.length) this.line++;
      return true;
    }
    this.atLineStart = false;
    if (j > this.i) this.push('indent', null);
    this.i = j;
    return false;
  }

  newline() {
    const last = this.tokens[this.tokens.length - 1];
    if (last && last.type !== 'newline') this.push('newline', null);
  }

  nameOrString() {
    const src = this.src;
    const m = /^([rRuUbBfF]{1,2})(['"])/.exec(src.slice(this.i, this.i + 3));
    if (m && /^(r|u|b|f|br|rb|fr|rf)$/i.test(m[1])) {
      this.i += m[1].length;
      this.string(m[1].toLowerCase());
      return;
    }
    let j = this.i + 1;
    while (j < src.length && NAME_REST.test(src[j])) j++;
    this.push('name', src.slice(this.i, j));
    this.i = j;
  }

  string(prefix) {
    const src = this.src;
    const line = this.line;
    const quote = src[this.i];
    const triple = src.startsWith(quote.repeat(3), this.i);
    const close = triple ? quote.repeat(3) : quote;
    const raw = prefix.includes('r');
    let j = this.i + close.length;
    const start = j;
    for (;;) {
      if (j >= src.length || (!triple && src[j] === '\n')) {
        const what = triple ? 'unterminated triple-quoted string literal' : 'unterminated string literal';
        throw syntaxError(`${what} (detected at line ${this.line})`, line);
      }
      if (src[j] === '\\') {
        if (src[j + 1] === '\n') this.line++;
        j += 2;
        continue;
      }
      if (src.startsWith(close, j)) break;
      if (src[j] === '\n') this.line++;
      j++;
    }
    const body = src.slice(start, j);
    this.i = j + close.length;
    if (prefix.includes('b')) {
      throw new PyError('NotImplementedError', `bytes literals are not supported by opsrun-sim (line ${line})`, line);
    }
    if (prefix.includes('f')) {
      throw new PyError('NotImplementedError', `f-strings are not supported by opsrun-sim (line ${line})`, line);
    }
    this.push('string', raw ? body : decodeEscapes(body, line), line);
  }

  number() {
    const rest = this.src.slice(this.i);
    const line = this.line;
    const patterns = [
      [/^0[xX](?:_?[0-9a-fA-F])+/, 16],
      [/^0[oO](?:_?[0-7])+/, 8],
      [/^0[bB](?:_?[01])+/, 2],
      [/^(?:\d(?:_?\d)*)?\.\d(?:_?\d)*(?:[eE][+-]?\d(?:_?\d)*)?|^\d(?:_?\d)*\.(?:[eE][+-]?\d(?:_?\d)*)?|^\d(?:_?\d)*[eE][+-]?\d(?:_?\d)*/, 'float'],
      [/^\d(?:_?\d)*/, 10],
    ];
    for (const [re, base] of patterns) {
      const m = re.exec(rest);
      if (!m) continue;
      const text = m[0];
      const after = rest[text.length] ?? '';
      if (after === 'j' || after === 'J') {
        throw new PyError('NotImplementedError', `complex numbers are not supported by opsrun-sim (line ${line})`, line);
      }
      if (NAME_REST.test(after)) throw syntaxError(`invalid ${base === 16 ? 'hexadecimal' : base === 8 ? 'octal' : base === 2 ? 'binary' : 'decimal'} literal`, line);
      this.i += text.length;
      const digits = text.replace(/_/g, '');
      if (base === 'float') {
        this.push('number', new PyFloat(Number(digits)), line);
        return;
      }
      if (base === 10 && /^0+[1-9]/.test(digits)) {
        throw syntaxError('leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers', line);
      }
      const prefix = { 16: '0x', 8: '0o', 2: '0b', 10: '' }[base];
      const big = BigInt(prefix + (base === 10 ? digits : digits.slice(2)));
      this.push('number', big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big, line);
      return;
    }
    throw syntaxError('invalid syntax', line);
  }

  operator() {
    const src = this.src;
    const op = OPERATORS.find((o) => src.startsWith(o, this.i));
    if (!op) {
      const ch = String.fromCodePoint(src.codePointAt(this.i));
      throw syntaxError(`invalid character '${ch}' (U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')})`, this.line);
    }
    if (op in OPENERS) {
      this.depth.push([op, this.line]);
    } else if (op === ')' || op === ']' || op === '}') {
      const top = this.depth.pop();
      if (!top) throw syntaxError(`unmatched '${op}'`, this.line);
      if (OPENERS[top[0]] !== op) {
        throw syntaxError(`closing parenthesis '${op}' does not match opening parenthesis '${top[0]}'${top[1] === this.line ? '' : ` on line ${top[1]}`}`, this.line);
      }
    }
    this.push('op', op);
    this.i += op.length;
  }
}

/** Tokens of `src`: {type: 'name'|'number'|'string'|'op'|'indent'|'newline'|'eof', value, line}. */
export function tokenize(src) {
  return new Tokenizer(src).run();
}
