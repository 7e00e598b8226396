/* ini.h: the AWS shared-file INI dialect of ~/.aws/config and ~/.aws/credentials, as the AWS
 * SDKs' common profile-file rules define it: `[profile NAME]`, `[default]`, `[sso-session NAME]`
 * and `[services NAME]` sections in the config file, bare `[NAME]` sections in the credentials
 * file; whole-line `#` and `;` comments, and inline ones after whitespace on property lines;
 * indented continuation lines; sub-properties under a property whose value is empty; property
 * names case-insensitive (read in lower case, as the AWS CLI does); repeated sections merged and
 * repeated properties won by the last one. Malformed lines are errors naming file:line. */
#ifndef OPS_INI_H
#define OPS_INI_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/error.h"

/* Which file a text is: the section-header rules differ. */
enum ops_ini_file {
  OPS_INI_CONFIG,      /* [profile x], [default], [sso-session x], [services x] */
  OPS_INI_CREDENTIALS, /* [x]: every section is a profile */
};

enum ops_ini_section_kind {
  OPS_INI_PROFILE,
  OPS_INI_SSO_SESSION,
  OPS_INI_SERVICES,
};

struct ops_ini;
struct ops_ini_section;

/* Reads and parses the file at `path`. A file that does not exist is not an error: *out is then
 * an empty ini for which ops_ini_found is false. Returns 0 with *out owned by the caller
 * (ops_ini_free), or OPS_ERR_CONFIG (unreadable file or one over 16 MiB, runtime/file.h:
 * "PATH: cannot read: ..."; malformed line: "PATH:LINE: ...") or OPS_ERR_NOMEM with `err` set.
 * The file's bytes are wiped from memory after parsing. */
int ops_ini_load(struct ops_ini **out, const char *path, enum ops_ini_file file,
                 struct ops_error *err);

/* Parses `len` bytes of `text`; `path` names it in messages. As ops_ini_load. */
int ops_ini_parse(struct ops_ini **out, const char *text, size_t len, const char *path,
                  enum ops_ini_file file, struct ops_error *err);

/* Frees the ini, wiping every value (credentials files hold secrets). NULL is a no-op. */
void ops_ini_free(struct ops_ini *ini);

/* The path given at load (borrowed, valid until ops_ini_free), and whether the file existed. */
const char *ops_ini_path(const struct ops_ini *ini);
bool ops_ini_found(const struct ops_ini *ini);

/* The section of that kind and name (names are case-sensitive), or NULL. In a config file
 * `[profile default]` wins over `[default]` when both are present, as in the AWS SDKs. Borrowed,
 * valid until ops_ini_free. */
const struct ops_ini_section *ops_ini_find(const struct ops_ini *ini,
                                           enum ops_ini_section_kind kind, const char *name);

/* Sections in file order (after merging); `index` below ops_ini_section_count. */
size_t ops_ini_section_count(const struct ops_ini *ini);
const struct ops_ini_section *ops_ini_section_at(const struct ops_ini *ini, size_t index);
const char *ops_ini_section_name(const struct ops_ini_section *section);
enum ops_ini_section_kind ops_ini_section_kind(const struct ops_ini_section *section);

/* The value of property `key` (any case), or NULL. Continuation lines are joined with '\n'; a
 * property with sub-properties has the value "\nname = value..." as the SDKs give it. Borrowed,
 * valid until ops_ini_free. `line` (may be NULL) receives the line that set it. */
const char *ops_ini_get(const struct ops_ini_section *section, const char *key, int *line);

/* The value of sub-property `sub_key` under property `key` (`s3 =` then `  addressing_style =
 * path`), or NULL. */
const char *ops_ini_get_sub(const struct ops_ini_section *section, const char *key,
                            const char *sub_key);

#endif
