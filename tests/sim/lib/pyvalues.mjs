// Python values as the run_script interpreter holds them, and Python's own text forms of them:
// repr()/str() for print, json.dumps, and the JSON of a script's return value. Mapping:
// str -> string, int -> number or BigInt, float -> PyFloat, bool -> boolean, None -> null,
// list -> Array, tuple -> PyTuple, dict -> PyDict, set -> PySet, datetime -> PyDatetime.

/** A Python exception raised inside a script: `type` and `message` as Python prints them. */
export class PyError extends Error {
  constructor(type, message, line) {
    super(message);
    this.type = type;
    this.line = line;
  }
  toString() {
    return this.message === '' ? this.type : `${this.type}: ${this.message}`;
  }
}

export class PyFloat {
  constructor(value) {
    this.value = value;
  }
}

export class PyTuple {
  constructor(items) {
    this.items = items;
  }
}

export class PySet {
  constructor(items) {
    this.items = items;
  }
}

/** What call_boto3(...) evaluates to without `await`. */
export class PyCoroutine {
  constructor(run) {
    this.run = run;
  }
}

/** A tz-aware UTC datetime, as boto3 returns timestamps. */
export class PyDatetime {
  constructor(ms) {
    this.ms = ms;
  }
  /** 2024-05-03T10:22:11+00:00 (datetime.isoformat()). */
  isoformat() {
    return new Date(this.ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');
  }
  toJSON() {
    return this.isoformat();
  }
  str() {
    return this.isoformat().replace('T', ' ');
  }
  repr() {
    const d = new Date(this.ms);
    const parts = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()];
    if (d.getUTCSeconds()) parts.push(d.getUTCSeconds());
    return `datetime.datetime(${parts.join(', ')}, tzinfo=tzutc())`;
  }
}

/** Python's key identity: 1, 1.0 and True are one key; lists and dicts are unhashable. */
function keyOf(key) {
  if (typeof key === 'string') return 's' + key;
  if (key === null) return 'N';
  if (typeof key === 'boolean') return 'n' + (key ? 1 : 0);
  if (typeof key === 'number' || typeof key === 'bigint') return 'n' + String(key);
  if (key instanceof PyFloat) return 'n' + (Number.isInteger(key.value) ? String(key.value) : 'f' + key.value);
  if (key instanceof PyTuple) return 't(' + key.items.map(keyOf).join(',') + ')';
  if (key instanceof PyDatetime) return 'd' + key.ms;
  throw new PyError('TypeError', `unhashable type: '${typeName(key)}'`);
}

export class PyDict {
  constructor() {
    this.map = new Map();
  }
  set(key, value) {
    const k = keyOf(key);
    const old = this.map.get(k);
    this.map.set(k, [old ? old[0] : key, value]);
  }
  has(key) {
    return this.map.has(keyOf(key));
  }
  get(key) {
    return this.map.get(keyOf(key))?.[1];
  }
  *entries() {
    yield* this.map.values();
  }
  get size() {
    return this.map.size;
  }
}

export function typeName(v) {
  if (v === null) return 'NoneType';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'int';
  if (v instanceof PyFloat) return 'float';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PySet) return 'set';
  if (v instanceof PyDatetime) return 'datetime';
  if (v instanceof PyCoroutine) return 'coroutine';
  return v?.pyType ?? 'object';
}

/** Plain JSON data (as boto3 results are built) into Python values. */
export function toPy(v) {
  if (Array.isArray(v)) return v.map(toPy);
  if (v instanceof PyDatetime || v === null || typeof v !== 'object') {
    return typeof v === 'number' && !Number.isInteger(v) ? new PyFloat(v) : v;
  }
  const dict = new PyDict();
  for (const [k, val] of Object.entries(v)) dict.set(k, toPy(val));
  return dict;
}

/** repr() of a float: shortest round-trip digits in Python's layout (1.0, 1e-05, 1e+16). */
function floatRepr(x) {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace(/[-.]/g, '');
  let out;
  if (exp >= -4 && exp < 16) {
    if (exp >= digits.length - 1) out = digits + '0'.repeat(exp - digits.length + 1) + '.0';
    else if (exp >= 0) out = digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
    else out = '0.' + '0'.repeat(-exp - 1) + digits;
  } else {
    const m = digits.length > 1 ? digits[0] + '.' + digits.slice(1) : digits;
    out = `${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return (negative ? '-' : '') + out;
}

function strRepr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '\\' || ch === quote) out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\u' + c.toString(16);
    else out += ch;
  }
  return out + quote;
}

export function pyRepr(v) {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'string') return strRepr(v);
  if (v instanceof PyFloat) return floatRepr(v.value);
  if (Array.isArray(v)) return '[' + v.map(pyRepr).join(', ') + ']';
  if (v instanceof PyTuple) return v.items.length === 1 ? `(${pyRepr(v.items[0])},)` : '(' + v.items.map(pyRepr).join(', ') + ')';
  if (v instanceof PySet) return v.items.length ? '{' + v.items.map(pyRepr).join(', ') + '}' : 'set()';
  if (v instanceof PyDict) return '{' + [...v.entries()].map(([k, x]) => `${pyRepr(k)}: ${pyRepr(x)}`).join(', ') + '}';
  if (v instanceof PyDatetime) return v.repr();
  if (v instanceof PyCoroutine) return '<coroutine object call_boto3 at 0x7f3a2c1d4e40>';
  return `<${typeName(v)}>`;
}

/** str(): strings as they are, datetimes in their str() form, everything else as repr(). */
export function pyStr(v) {
  if (typeof v === 'string') return v;
  if (v instanceof PyDatetime) return v.str();
  return pyRepr(v);
}

function jsonString(s, ensureAscii) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const c = s.charCodeAt(i);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || (ensureAscii && c > 0x7e)) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

function jsonKey(k) {
  if (typeof k === 'string') return k;
  if (k === true) return 'true';
  if (k === false) return 'false';
  if (k === null) return 'null';
  if (typeof k === 'number' || typeof k === 'bigint') return String(k);
  if (k instanceof PyFloat) return floatRepr(k.value);
  throw new PyError('TypeError', `keys must be str, int, float, bool or None, not ${typeName(k)}`);
}

/**
 * json.dumps(v, indent=None, sort_keys=False, default=None, ensure_ascii=True) with Python's
 * separators (', ' and ': ' without indent, ',' and ': ' with it).
 */
export function pyJsonDumps(v, { indent = null, sortKeys = false, defaultFn = null, ensureAscii = true } = {}) {
  const itemSep = indent === null ? ', ' : ',';
  const walk = (x, depth) => {
    if (x === null) return 'null';
    if (x === true) return 'true';
    if (x === false) return 'false';
    if (typeof x === 'number' || typeof x === 'bigint') return String(x);
    if (x instanceof PyFloat) {
      if (Number.isNaN(x.value)) return 'NaN';
      if (!Number.isFinite(x.value)) return x.value > 0 ? 'Infinity' : '-Infinity';
      return floatRepr(x.value);
    }
    if (typeof x === 'string') return jsonString(x, ensureAscii);
    const open = (items, l, r) => {
      if (items.length === 0) return l + r;
      if (indent === null) return l + items.join(itemSep) + r;
      const pad = '\n' + ' '.repeat(indent * (depth + 1));
      return l + pad + items.join(itemSep + pad) + '\n' + ' '.repeat(indent * depth) + r;
    };
    if (Array.isArray(x) || x instanceof PyTuple) {
      return open((Array.isArray(x) ? x : x.items).map((e) => walk(e, depth + 1)), '[', ']');
    }
    if (x instanceof PyDict) {
      let entries = [...x.entries()].map(([k, e]) => [jsonKey(k), e]);
      if (sortKeys) entries = entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return open(entries.map(([k, e]) => `${jsonString(k, ensureAscii)}: ${walk(e, depth + 1)}`), '{', '}');
    }
    if (defaultFn) return walk(defaultFn(x), depth);
    throw new PyError('TypeError', `Object of type ${typeName(x)} is not JSON serializable`);
  };
  return walk(v, 0);
}

/** Sets an own key even when it is '__proto__'. */
function defineKey(obj, key, value) {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A script's return value as JSON data for the envelope (datetimes in ISO form, tuples as
 * arrays); anything json.dumps would refuse raises the same TypeError.
 */
export function toReturnJSON(v) {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v); // JSON numbers beyond 2^53 lose digits, as in most parsers
  if (v instanceof PyFloat) return Number.isFinite(v.value) ? v.value : null;
  if (v instanceof PyDatetime) return v.isoformat();
  if (Array.isArray(v)) return v.map(toReturnJSON);
  if (v instanceof PyTuple) return v.items.map(toReturnJSON);
  if (v instanceof PyDict) {
    const out = {};
    for (const [k, x] of v.entries()) defineKey(out, jsonKey(k), toReturnJSON(x));
    return out;
  }
  throw new PyError('TypeError', `Object of type ${typeName(v)} is not JSON serializable`);
}

/** Python values into plain JS for the boto3 simulation (dicts to objects, tuples to arrays). */
export function toPlain(v) {
  if (v instanceof PyFloat) return v.value;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof PyTuple) return v.items.map(toPlain);
  if (v instanceof PyDict) {
    const out = {};
    for (const [k, x] of v.entries()) defineKey(out, jsonKey(k), toPlain(x));
    return out;
  }
  return v;
}
