/* fuzz_boto3.c: the Lua -> Python literal encoder of bindings/lua/boto3.lua
 * (private.python_literal, what mcp.boto3 puts its params through) on Lua values built from the
 * input, inside a Lua state with the opsrun module. Judged as tests/lua/check_python_literals.py
 * judges it, in C, per input:
 *   - the encoder accepts exactly the values this file's own reading of its rules accepts
 *     (valid UTF-8 strings, finite numbers, lists 1..n, dicts with string keys, no cycles, at most
 *     64 nested tables), and a refusal is a message naming the place under "params";
 *   - an accepted literal is printable ASCII only and parses, as Python reads it (escapes, \xNN
 *     as a code point, int and float syntax), back into exactly the value given: same types,
 *     same bytes, same floats to the bit, balanced brackets, nothing left over;
 *   - the aws___run_script code around it is exactly the expected two statements.
 * Values: a small byte code (see s_value) of nil, json.null, booleans, integers, floats (any
 * bits), raw and UTF-8 strings, lists, dicts with string or other keys, deep nesting, functions,
 * and references to tables made before (shared tables and cycles). */
#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/lua_opsrun.h"

#define MAX_BUILD_DEPTH   72 /* past the encoder's 64, to see it refuse */
#define MAX_TABLES        64
#define MAX_WEIGHT        200000 /* values the encoder may visit, shared tables counted each time */
#define ENCODER_MAX_DEPTH 64

static lua_State *s_L;

/* The encoder is Lua, which libFuzzer's instrumentation does not see: a line hook feeds it
 * boto3.lua's line-to-line transitions as extra coverage counters (AFL-style edges). */
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t s_lua_edges[1 << 12];
static const char *s_encoder_source; /* the chunk name of boto3.lua, once seen */
static int s_previous_line;

static void s_line_hook(lua_State *L, lua_Debug *ar)
{
  if (!lua_getinfo(L, "S", ar))
    return;
  if (!s_encoder_source && strcmp(ar->source, "@opsrun/boto3.lua") == 0)
    s_encoder_source = ar->source;
  if (ar->source != s_encoder_source)
    return;
  unsigned edge =
      ((unsigned)s_previous_line * 31u + (unsigned)ar->currentline) % (unsigned)sizeof(s_lua_edges);
  s_lua_edges[edge]++;
  s_previous_line = ar->currentline;
}

/* ------------------------------------------------------------------ building a value */

/* The UTF-8 form of a code point up to 0x1FFFFF (surrogates too: the encoder must refuse them). */
static size_t s_utf8_encode(uint32_t cp, char out[4])
{
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | cp >> 6);
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | cp >> 12);
    out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | cp >> 18);
  out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

struct builder {
  const uint8_t *at, *end;
  int made; /* stack index of the array of tables made so far */
  int table_count;
  long weight[MAX_TABLES + 1]; /* values under each table made (1-based), -1 while open */
  long total;
};

static int s_byte(struct builder *b)
{
  return b->at < b->end ? *b->at++ : -1;
}

static uint64_t s_bytes8(struct builder *b)
{
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | (uint64_t)(s_byte(b) & 0xff);
  return v;
}

static void s_push_raw_string(lua_State *L, struct builder *b)
{
  size_t len = (size_t)(s_byte(b) & 0xff) % 48, left = (size_t)(b->end - b->at);
  if (len > left)
    len = left;
  lua_pushlstring(L, (const char *)b->at, len);
  b->at += len;
}

/* UTF-8 of code points taken three bytes at a time: surrogates and values past U+10FFFF too. */
static void s_push_utf8_string(lua_State *L, struct builder *b)
{
  luaL_Buffer buf;
  luaL_buffinit(L, &buf);
  int n = (s_byte(b) & 0xff) % 8;
  for (int i = 0; i < n; i++) {
    uint32_t cp = (uint32_t)(s_byte(b) & 0x1f) << 16 | (uint32_t)(s_byte(b) & 0xff) << 8;
    cp |= (uint32_t)(s_byte(b) & 0xff);
    char utf8[4];
    luaL_addlstring(&buf, utf8, s_utf8_encode(cp, utf8));
  }
  luaL_pushresult(&buf);
}

static long s_value(lua_State *L, struct builder *b, int depth);

/* A new table, registered for later references; its weight is known once it is complete. */
static int s_table_begin(lua_State *L, struct builder *b)
{
  lua_newtable(L);
  if (b->table_count == MAX_TABLES)
    return 0;
  b->table_count++;
  lua_pushvalue(L, -1);
  lua_rawseti(L, b->made, b->table_count);
  b->weight[b->table_count] = -1;
  return b->table_count;
}

static void s_push_key(lua_State *L, struct builder *b)
{
  int kind = s_byte(b) & 0xff;
  if (kind < 200) {
    s_push_raw_string(L, b);
  } else if (kind < 215) {
    s_push_utf8_string(L, b);
  } else if (kind < 235) {
    lua_pushinteger(L, (int8_t)s_byte(b));
  } else if (kind < 245) {
    lua_pushnumber(L, (double)(int8_t)s_byte(b) / 2); /* 1.0 becomes the integer key 1 */
  } else {
    lua_pushboolean(L, s_byte(b) & 1);
  }
}

/* Pushes one value; returns its weight (values the encoder would visit). */
static long s_value(lua_State *L, struct builder *b, int depth)
{
  luaL_checkstack(L, 8, "fuzz value");
  int op = s_byte(b);
  if (op < 0 || depth > MAX_BUILD_DEPTH || b->total > MAX_WEIGHT) {
    lua_pushinteger(L, 0);
    return 1;
  }
  switch (op % 15) {
  case 0: lua_pushnil(L); return 1;
  case 1:
    lua_pushlightuserdata(L, NULL); /* json.null */
    return 1;
  case 2: lua_pushboolean(L, s_byte(b) & 1); return 1;
  case 3: lua_pushinteger(L, (int8_t)s_byte(b)); return 1;
  case 4: lua_pushinteger(L, (lua_Integer)s_bytes8(b)); return 1;
  case 5: {
    uint64_t bits = s_bytes8(b);
    double d;
    memcpy(&d, &bits, sizeof(d));
    lua_pushnumber(L, d);
    return 1;
  }
  case 6:
    lua_pushnumber(L,
                   (double)(int16_t)(uint16_t)((s_byte(b) & 0xff) << 8 | (s_byte(b) & 0xff)) / 8);
    return 1;
  case 7: s_push_raw_string(L, b); return 1;
  case 8: s_push_utf8_string(L, b); return 1;
  case 9:    /* a list: items 1..n (a nil item leaves a hole) */
  case 10: { /* a dict, or a table of any keys */
    int self = s_table_begin(L, b);
    int n = (s_byte(b) & 0xff) % 6;
    long weight = 1;
    for (int i = 1; i <= n; i++) {
      if (op % 15 == 9)
        lua_pushinteger(L, i);
      else
        s_push_key(L, b);
      weight += s_value(L, b, depth + 1);
      if (lua_type(L, -2) == LUA_TNUMBER && lua_tonumber(L, -2) != lua_tonumber(L, -2))
        lua_pop(L, 2); /* a NaN key cannot be set */
      else
        lua_rawset(L, -3);
    }
    if (self)
      b->weight[self] = weight;
    b->total += weight;
    return weight;
  }
  case 11: { /* a table made before: shared, or (while still open) a cycle */
    if (b->table_count == 0) {
      lua_pushnil(L);
      return 1;
    }
    int which = 1 + (s_byte(b) & 0xff) % b->table_count;
    long weight = b->weight[which] < 0 ? 1 : b->weight[which];
    if (b->total + weight > MAX_WEIGHT) {
      lua_pushnil(L);
      return 1;
    }
    lua_rawgeti(L, b->made, which);
    b->total += weight;
    return weight;
  }
  case 12: { /* n nested single-key tables around a value: past the encoder's depth limit */
    int n = (s_byte(b) & 0xff) % (MAX_BUILD_DEPTH - depth + 1);
    if (n > MAX_BUILD_DEPTH - depth)
      n = MAX_BUILD_DEPTH - depth;
    if (n < 0)
      n = 0;
    int key_kind = s_byte(b) & 1;
    long weight = s_value(L, b, MAX_BUILD_DEPTH); /* a scalar */
    for (int i = 0; i < n; i++) {
      lua_newtable(L);
      lua_insert(L, -2);
      if (key_kind)
        lua_rawseti(L, -2, 1);
      else
        lua_setfield(L, -2, "k");
      weight++;
    }
    b->total += weight;
    return weight;
  }
  case 13:
    lua_pushcfunction(L, luaopen_cjson); /* any function: refused */
    return 1;
  default:
    lua_pushlightuserdata(L, b); /* userdata other than json.null: refused */
    return 1;
  }
}

static int s_build(lua_State *L)
{
  struct builder *b = lua_touserdata(L, 1);
  lua_newtable(L);
  b->made = lua_gettop(L);
  s_value(L, b, 1);
  return 1;
}

/* ------------------------------------------------------------------ the encoder's rules */

/* UTF-8 as Lua 5.4's utf8.len (strict) reads it: no overlong forms, surrogates or values past
 * U+10FFFF. */
static bool s_valid_utf8(const unsigned char *s, size_t len)
{
  for (size_t i = 0; i < len;) {
    unsigned c = s[i];
    size_t n = c < 0x80                 ? 0
               : c >= 0xC2 && c <= 0xDF ? 1
               : c >= 0xE0 && c <= 0xEF ? 2
               : c >= 0xF0 && c <= 0xF4 ? 3
                                        : 9;
    if (n == 9 || i + n >= len + (n ? 0 : 1))
      return false;
    if (n == 0) {
      i++;
      continue;
    }
    uint32_t cp = c & (0x3F >> n);
    for (size_t k = 1; k <= n; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

/* Whether the encoder should accept the value at `index`; `open` is the array of tables on the
 * current path (cycles), `depth` the table depth as the encoder counts it. */
static bool s_acceptable(lua_State *L, int index, int open, int depth)
{
  if (!lua_checkstack(L, 8)) /* recursion: Lua guarantees only LUA_MINSTACK slots */
    abort();
  index = lua_absindex(L, index);
  switch (lua_type(L, index)) {
  case LUA_TNIL:
  case LUA_TBOOLEAN: return true;
  case LUA_TLIGHTUSERDATA: return lua_touserdata(L, index) == NULL;
  case LUA_TNUMBER: {
    if (lua_isinteger(L, index))
      return true;
    double d = lua_tonumber(L, index);
    return d == d && d != HUGE_VAL && d != -HUGE_VAL;
  }
  case LUA_TSTRING: {
    size_t len;
    const char *s = lua_tolstring(L, index, &len);
    return s_valid_utf8((const unsigned char *)s, len);
  }
  case LUA_TTABLE: break;
  default: return false;
  }
  if (depth > ENCODER_MAX_DEPTH)
    return false;
  lua_pushvalue(L, index);
  if (lua_rawget(L, open) != LUA_TNIL) {
    lua_pop(L, 1);
    return false;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, index);
  lua_pushboolean(L, 1);
  lua_rawset(L, open);
  /* a list: keys exactly 1..n; else every key a (valid) string */
  lua_Integer count = 0;
  bool integers = true, strings = true, ok = true;
  lua_pushnil(L);
  while (lua_next(L, index)) {
    count++;
    integers &= lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1;
    strings &= lua_type(L, -2) == LUA_TSTRING;
    lua_pop(L, 1);
  }
  bool list = count > 0 && integers;
  for (lua_Integer i = 1; list && i <= count; i++) {
    list = lua_rawgeti(L, index, i) != LUA_TNIL;
    lua_pop(L, 1);
  }
  if (!list && !strings)
    ok = false;
  lua_pushnil(L);
  while (ok && lua_next(L, index)) {
    ok = (list || s_acceptable(L, -2, open, depth + 1)) && s_acceptable(L, -1, open, depth + 1);
    lua_pop(L, 1);
  }
  if (!ok)
    lua_pop(L, 1); /* the key lua_next left */
  lua_pushvalue(L, index);
  lua_pushnil(L);
  lua_rawset(L, open);
  return ok;
}

/* ------------------------------------------------------------------ reading the literal back */

struct literal {
  const char *at, *end;
  char why[160];
};

static bool s_fail(struct literal *lit, const char *why)
{
  if (!lit->why[0])
    snprintf(lit->why, sizeof(lit->why), "%s at offset %zu", why, (size_t)(lit->end - lit->at));
  return false;
}

static bool s_eat(struct literal *lit, const char *text)
{
  size_t n = strlen(text);
  if ((size_t)(lit->end - lit->at) < n || memcmp(lit->at, text, n) != 0)
    return false;
  lit->at += n;
  return true;
}

static int s_hex(char c)
{
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* A single-quoted Python str literal, decoded to UTF-8 on the Lua stack. */
static bool s_string(lua_State *L, struct literal *lit)
{
  if (!s_eat(lit, "'"))
    return s_fail(lit, "a string literal expected");
  luaL_Buffer buf;
  luaL_buffinit(L, &buf);
  for (;;) {
    if (lit->at == lit->end)
      return s_fail(lit, "unterminated string");
    char c = *lit->at++;
    if (c == '\'')
      break;
    if (c != '\\') {
      luaL_addchar(&buf, c);
      continue;
    }
    if (lit->at == lit->end)
      return s_fail(lit, "unterminated escape");
    char e = *lit->at++;
    int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
    const char *simple = strchr("\\\\''n\nr\rt\t", e);
    if (!digits) {
      if (!simple || e == 0 || ((simple - "\\\\''n\nr\rt\t") & 1))
        return s_fail(lit, "an escape the encoder does not write");
      luaL_addchar(&buf, simple[1]);
      continue;
    }
    if (lit->end - lit->at < digits)
      return s_fail(lit, "short escape");
    uint32_t cp = 0;
    for (int i = 0; i < digits; i++) {
      int h = s_hex(*lit->at++);
      if (h < 0)
        return s_fail(lit, "bad hex digit in an escape");
      cp = cp << 4 | (uint32_t)h;
    }
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return s_fail(lit, "an escape of a surrogate or past U+10FFFF");
    char utf8[4];
    luaL_addlstring(&buf, utf8, s_utf8_encode(cp, utf8));
  }
  luaL_pushresult(&buf);
  return true;
}

static bool s_same_string(lua_State *L, int index)
{
  size_t a_len, b_len;
  const char *a = lua_tolstring(L, index, &a_len), *b = lua_tolstring(L, -1, &b_len);
  return lua_type(L, index) == LUA_TSTRING && a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* A Python int or float literal (with an optional '-'), compared with the Lua number. */
static bool s_number(lua_State *L, int index, struct literal *lit)
{
  const char *start = lit->at, *p = lit->at;
  if (p < lit->end && *p == '-')
    p++;
  const char *digits = p;
  while (p < lit->end && *p >= '0' && *p <= '9')
    p++;
  if (p == digits)
    return s_fail(lit, "a number without digits");
  bool is_float = false;
  if (p < lit->end && *p == '.') {
    is_float = true;
    for (p++; p < lit->end && *p >= '0' && *p <= '9';)
      p++;
  }
  if (p < lit->end && (*p == 'e' || *p == 'E')) {
    is_float = true;
    p++;
    if (p < lit->end && (*p == '+' || *p == '-'))
      p++;
    const char *exp = p;
    while (p < lit->end && *p >= '0' && *p <= '9')
      p++;
    if (p == exp)
      return s_fail(lit, "an exponent without digits");
  }
  char text[64];
  if (p - start >= (long)sizeof(text))
    return s_fail(lit, "a number too long");
  memcpy(text, start, (size_t)(p - start));
  text[p - start] = '\0';
  lit->at = p;
  if (!is_float) {
    if (digits[0] == '0' && p - digits > 1)
      return s_fail(lit, "an int with a leading zero (not Python)");
    if (!lua_isinteger(L, index))
      return s_fail(lit, "an int literal for a value that is not an integer");
    lua_Integer want = lua_tointeger(L, index);
    char expect[32];
    snprintf(expect, sizeof(expect), LUA_INTEGER_FMT, want);
    return strcmp(text, expect) == 0 || s_fail(lit, "a different integer");
  }
  if (lua_type(L, index) != LUA_TNUMBER || lua_isinteger(L, index))
    return s_fail(lit, "a float literal for a value that is not a float");
  double got = strtod(text, NULL), want = lua_tonumber(L, index);
  return memcmp(&got, &want, sizeof(got)) == 0 ||
         s_fail(lit, "a float that reads back differently");
}

static bool s_match(lua_State *L, int index, struct literal *lit, int depth);

static lua_Integer s_key_count(lua_State *L, int index)
{
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, index)) {
    count++;
    lua_pop(L, 1);
  }
  return count;
}

static bool s_list(lua_State *L, int index, struct literal *lit, int depth)
{
  if (lua_type(L, index) != LUA_TTABLE)
    return s_fail(lit, "a list for a value that is not a table");
  lua_Integer n = 0;
  if (s_eat(lit, "]"))
    return s_fail(lit, "an empty list (the encoder writes {} for an empty table)");
  do {
    n++;
    lua_rawgeti(L, index, n);
    bool ok = lua_type(L, -1) != LUA_TNIL && s_match(L, lua_gettop(L), lit, depth + 1);
    lua_pop(L, 1);
    if (!ok)
      return s_fail(lit, "a list item that differs");
  } while (s_eat(lit, ", "));
  if (!s_eat(lit, "]"))
    return s_fail(lit, "a list not closed by ]");
  return s_key_count(L, index) == n || s_fail(lit, "a list with fewer items than the table");
}

static bool s_dict(lua_State *L, int index, struct literal *lit, int depth)
{
  if (lua_type(L, index) != LUA_TTABLE)
    return s_fail(lit, "a dict for a value that is not a table");
  lua_newtable(L); /* keys seen */
  int seen = lua_gettop(L);
  lua_Integer n = 0;
  bool ok = true;
  if (!s_eat(lit, "}")) {
    do {
      if (!s_string(L, lit)) {
        ok = false;
        break;
      }
      lua_pushvalue(L, -1);
      if (lua_rawget(L, seen) != LUA_TNIL) {
        ok = s_fail(lit, "a key written twice");
        break;
      }
      lua_pop(L, 1);
      lua_pushvalue(L, -1);
      lua_pushboolean(L, 1);
      lua_rawset(L, seen);
      n++;
      if (!s_eat(lit, ": ")) {
        ok = s_fail(lit, "': ' expected after a key");
        break;
      }
      lua_rawget(L, index); /* the key's value in the table */
      ok = s_match(L, lua_gettop(L), lit, depth + 1);
      lua_pop(L, 1);
    } while (ok && s_eat(lit, ", "));
    ok = ok && (s_eat(lit, "}") || s_fail(lit, "a dict not closed by }"));
  }
  lua_settop(L, seen - 1);
  return ok && (s_key_count(L, index) == n || s_fail(lit, "a dict with fewer keys than the table"));
}

/* Reads one Python value from the literal and compares it with the Lua value at `index`. */
static bool s_match(lua_State *L, int index, struct literal *lit, int depth)
{
  if (!lua_checkstack(L, 8)) /* unprotected here: no luaL_checkstack */
    abort();
  if (depth > ENCODER_MAX_DEPTH + 1)
    return s_fail(lit, "nesting deeper than the encoder allows");
  if (lit->at == lit->end)
    return s_fail(lit, "the literal ends early");
  switch (*lit->at) {
  case 'N':
    return (s_eat(lit, "None") && (lua_isnil(L, index) ||
                                   (lua_islightuserdata(L, index) && !lua_touserdata(L, index)))) ||
           s_fail(lit, "None for a value that is not nil or json.null");
  case 'T':
  case 'F': {
    bool value = *lit->at == 'T';
    return (s_eat(lit, value ? "True" : "False") && lua_isboolean(L, index) &&
            lua_toboolean(L, index) == value) ||
           s_fail(lit, "a boolean that differs");
  }
  case '\'': {
    if (!s_string(L, lit))
      return false;
    bool same = s_same_string(L, index);
    lua_pop(L, 1);
    return same || s_fail(lit, "a string that reads back differently");
  }
  case '[': lit->at++; return s_list(L, index, lit, depth);
  case '{': lit->at++; return s_dict(L, index, lit, depth);
  default: return s_number(L, index, lit);
  }
}

/* ------------------------------------------------------------------ the target */

static void s_open(void)
{
  s_L = luaL_newstate();
  luaL_openlibs(s_L);
  luaL_getsubtable(s_L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  lua_pushcfunction(s_L, luaopen_cjson);
  lua_setfield(s_L, -2, "cjson");
  lua_pop(s_L, 1);
  luaL_requiref(s_L, "opsrun", luaopen_opsrun, 1);
  lua_pop(s_L, 1);
  lua_sethook(s_L, s_line_hook, LUA_MASKLINE, 0);
}

static void s_die(const char *what, const char *detail)
{
  fprintf(stderr, "fuzz_boto3: %s: %s\n", what, detail ? detail : "");
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (!s_L)
    s_open();
  lua_State *L = s_L;
  int top = lua_gettop(L);
  struct builder b = {.at = data, .end = data + size};
  lua_pushcfunction(L, s_build);
  lua_pushlightuserdata(L, &b);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK)
    s_die("building the value failed", lua_tostring(L, -1));
  int value = lua_gettop(L);

  lua_newtable(L);
  bool acceptable = s_acceptable(L, value, lua_gettop(L), 1);
  lua_pop(L, 1);

  lua_getfield(L, LUA_REGISTRYINDEX, OPS_PRIVATE_KEY);
  int private = lua_gettop(L);
  lua_getfield(L, private, "python_literal");
  lua_pushvalue(L, value);
  lua_pushliteral(L, "params");
  if (lua_pcall(L, 2, 2, 0) != LUA_OK)
    s_die("python_literal raised instead of returning", luaL_tolstring(L, -1, NULL));
  if (lua_isnil(L, -2)) {
    const char *why = lua_tostring(L, -1);
    if (acceptable)
      s_die("an acceptable value was refused", why);
    if (!why || strncmp(why, "params", 6) != 0)
      s_die("a refusal that does not name the place under params", why);
    lua_settop(L, top);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
  }
  size_t len;
  const char *text = lua_tolstring(L, -2, &len);
  if (!text)
    s_die("python_literal returned a non-string", luaL_typename(L, -2));
  if (!acceptable)
    s_die("a value that should be refused was encoded", text);
  for (size_t i = 0; i < len; i++)
    if (text[i] < 0x20 || text[i] > 0x7e)
      s_die("the literal has a byte that is not printable ASCII", text);
  struct literal lit = {.at = text, .end = text + len};
  if (!s_match(L, value, &lit, 1))
    s_die(lit.why, text);
  if (lit.at != lit.end)
    s_die("the literal goes on after the value", text);

  /* the code around it: exactly this, whatever the literal */
  int literal = lua_gettop(L) - 1;
  lua_getfield(L, private, "boto3_script");
  lua_pushliteral(L, "ec2");
  lua_pushliteral(L, "DescribeInstances");
  lua_pushliteral(L, "us-east-1");
  lua_pushvalue(L, literal);
  if (lua_pcall(L, 4, 1, 0) != LUA_OK)
    s_die("boto3_script raised", lua_tostring(L, -1));
  lua_pushliteral(L, "result = await call_boto3(service_name='ec2', "
                     "operation_name='DescribeInstances', region_name='us-east-1', params=");
  lua_pushvalue(L, literal);
  lua_pushliteral(L, ")\nresult");
  lua_concat(L, 3);
  if (!lua_rawequal(L, -1, -2))
    s_die("the script is not the expected two statements", lua_tostring(L, -2));
  lua_settop(L, top);
  lua_gc(L, LUA_GCSTEP, 0);
  return 0;
}
