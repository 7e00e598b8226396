/* curl_loader.c: libcurl, loaded at its first use instead of at start-up.
 *
 * Debian's libcurl brings some thirty libraries with it (GnuTLS through librtmp, Kerberos, LDAP,
 * SASL, libssh2, libidn2, ...). Mapping and relocating them, and running their constructors, was
 * most of what starting opsrun cost: a chunk that sends nothing, a REPL that has not sent yet, or
 * `opsrun --help` waited for all of it. So the runtime does not link libcurl: it defines the
 * libcurl functions it calls, each of which finds the real one in libcurl.so.4 (dlopen'd at the
 * first call that needs it: lazy_library.h) and calls it. Functions that only release what
 * libcurl made do nothing while libcurl is not loaded, as there is nothing to release.
 *
 * The variadic setters read their one argument as the option's type says (curl.h numbers each
 * option within its type's range: long, object pointer, function pointer, curl_off_t, blob), as
 * libcurl itself reads it, and pass it on. */

#define CURL_DISABLE_TYPECHECK /* these are the definitions curl.h's type-checking macros call */
#include <curl/curl.h>

#include <stdarg.h>

#include "runtime/lazy_library.h"

/* libcurl's ABI has kept this name since 7.16.0 (2006). */
static struct ops_lazy_library s_curl = {.soname = "libcurl.so.4", .package = "libcurl4"};

#define S_REAL(ret, params, name)          OPS_LAZY_REAL(s_curl, ret, params, name)
#define S_FORWARD(ret, name, params, args) OPS_LAZY_FORWARD(s_curl, ret, name, params, args)
#define S_RELEASE(name, params, args)      OPS_LAZY_RELEASE(s_curl, name, params, args)

S_FORWARD(CURLcode, curl_global_init, (long flags), (flags))
S_FORWARD(curl_version_info_data *, curl_version_info, (CURLversion age), (age))
S_FORWARD(time_t, curl_getdate, (const char *date, const time_t *unused), (date, unused))
S_FORWARD(CURL *, curl_easy_init, (void), ())
S_FORWARD(CURLcode, curl_easy_pause, (CURL * easy, int bitmask), (easy, bitmask))
S_FORWARD(const char *, curl_easy_strerror, (CURLcode code), (code))
S_FORWARD(char *, curl_easy_escape, (CURL * easy, const char *string, int length),
          (easy, string, length))
S_FORWARD(struct curl_slist *, curl_slist_append, (struct curl_slist * list, const char *string),
          (list, string))
S_FORWARD(CURLM *, curl_multi_init, (void), ())
S_FORWARD(CURLMcode, curl_multi_add_handle, (CURLM * multi, CURL *easy), (multi, easy))
S_FORWARD(CURLMcode, curl_multi_remove_handle, (CURLM * multi, CURL *easy), (multi, easy))
S_FORWARD(CURLMcode, curl_multi_cleanup, (CURLM * multi), (multi))
S_FORWARD(CURLMsg *, curl_multi_info_read, (CURLM * multi, int *queued), (multi, queued))
S_FORWARD(CURLMcode, curl_multi_perform, (CURLM * multi, int *running), (multi, running))
S_FORWARD(CURLMcode, curl_multi_poll,
          (CURLM * multi, struct curl_waitfd *extra, unsigned count, int timeout_ms, int *ready),
          (multi, extra, count, timeout_ms, ready))
S_FORWARD(CURLMcode, curl_multi_socket_action,
          (CURLM * multi, curl_socket_t fd, int events, int *running), (multi, fd, events, running))
S_FORWARD(const char *, curl_multi_strerror, (CURLMcode code), (code))
S_FORWARD(CURLU *, curl_url, (void), ())
S_FORWARD(CURLUcode, curl_url_get, (CURLU * url, CURLUPart what, char **part, unsigned flags),
          (url, what, part, flags))
S_FORWARD(CURLUcode, curl_url_set, (CURLU * url, CURLUPart what, const char *part, unsigned flags),
          (url, what, part, flags))

S_RELEASE(curl_global_cleanup, (void), ())
S_RELEASE(curl_easy_cleanup, (CURL * easy), (easy))
S_RELEASE(curl_free, (void *pointer), (pointer))
S_RELEASE(curl_slist_free_all, (struct curl_slist * list), (list))
S_RELEASE(curl_url_cleanup, (CURLU * url), (url))

/* One option's value, read from `args` as the option's number says its type is. */
union s_option_value {
  long number;
  void *object;
  void (*function)(void);
  curl_off_t offset;
};

static union s_option_value s_option_value(int option, va_list args)
{
  union s_option_value value;
  if (option < CURLOPTTYPE_OBJECTPOINT)
    value.number = va_arg(args, long);
  else if (option < CURLOPTTYPE_FUNCTIONPOINT)
    value.object = va_arg(args, void *);
  else if (option < CURLOPTTYPE_OFF_T)
    value.function = va_arg(args, void (*)(void));
  else if (option < CURLOPTTYPE_BLOB)
    value.offset = va_arg(args, curl_off_t);
  else
    value.object = va_arg(args, void *);
  return value;
}

/* Calls libcurl's setter `real` with the value as its type. */
#define S_SET(real, handle, option, value)                                                         \
  ((option) < CURLOPTTYPE_OBJECTPOINT     ? (real)((handle), (option), (value).number)             \
   : (option) < CURLOPTTYPE_FUNCTIONPOINT ? (real)((handle), (option), (value).object)             \
   : (option) < CURLOPTTYPE_OFF_T         ? (real)((handle), (option), (value).function)           \
   : (option) < CURLOPTTYPE_BLOB          ? (real)((handle), (option), (value).offset)             \
                                          : (real)((handle), (option), (value).object))

CURLcode curl_easy_setopt(CURL *easy, CURLoption option, ...)
{
  S_REAL(CURLcode, (CURL *, CURLoption, ...), "curl_easy_setopt");
  va_list args;
  va_start(args, option);
  union s_option_value value = s_option_value((int)option, args);
  va_end(args);
  return S_SET(real, easy, option, value);
}

CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
  S_REAL(CURLMcode, (CURLM *, CURLMoption, ...), "curl_multi_setopt");
  va_list args;
  va_start(args, option);
  union s_option_value value = s_option_value((int)option, args);
  va_end(args);
  return S_SET(real, multi, option, value);
}

/* Every CURLINFO is read through a pointer. */
CURLcode curl_easy_getinfo(CURL *easy, CURLINFO info, ...)
{
  S_REAL(CURLcode, (CURL *, CURLINFO, ...), "curl_easy_getinfo");
  va_list args;
  va_start(args, info);
  void *out = va_arg(args, void *);
  va_end(args);
  return real(easy, info, out);
}
