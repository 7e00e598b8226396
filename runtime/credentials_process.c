/* credentials_process.c: the credential_process source: runs the profile's command with
 * /bin/sh -c, reads its stdout as JSON Version 1 (AccessKeyId, SecretAccessKey, SessionToken,
 * Expiration) with jansson, and words its failures (exit status and stderr, bad JSON, wrong
 * Version, missing members) without ever echoing what it printed on stdout. The command runs to
 * completion inside start: it blocks the loop, as credential_process is run once for the base
 * credentials. */
#include "runtime/credentials.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define S_MAX_STDOUT ((size_t)1 << 20)
#define S_MAX_STDERR ((size_t)2048)

extern char **environ;

struct s_process {
  char *command;
  char *profile;
  char *what; /* "credential_process of profile x" */
};

/* What the command left: its stdout (a secret), the start of its stderr, how it ended. */
struct s_outcome {
  char *out;
  size_t out_len;
  char err_text[S_MAX_STDERR + 1];
  size_t err_len;
  int status;
};

static void s_keep(struct s_outcome *o, int which, const char *data, size_t n)
{
  if (which == 0) {
    size_t room = S_MAX_STDOUT - o->out_len;
    n = n < room ? n : room;
    memcpy(o->out + o->out_len, data, n);
    o->out_len += n;
  } else {
    size_t room = S_MAX_STDERR - o->err_len;
    n = n < room ? n : room;
    memcpy(o->err_text + o->err_len, data, n);
    o->err_len += n;
  }
}

/* Reads both pipes to their end (a command that fills one pipe while we wait on the other would
 * otherwise hang). */
static void s_drain(int out_fd, int err_fd, struct s_outcome *o)
{
  struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
  char chunk[4096];
  int open_count = 2;
  while (open_count > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      ssize_t n = read(fds[i].fd, chunk, sizeof(chunk));
      if (n > 0) {
        s_keep(o, i, chunk, (size_t)n);
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        open_count--;
      }
    }
  }
  OPENSSL_cleanse(chunk, sizeof(chunk));
}

static int s_run(const struct s_process *p, struct s_outcome *o, struct ops_error *err)
{
  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  posix_spawn_file_actions_t actions;
  char *argv[] = {"sh", "-c", p->command, NULL};
  pid_t pid;
  int rc = OPS_OK;
  o->out = malloc(S_MAX_STDOUT);
  if (!o->out)
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0) {
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS, "%s: cannot make a pipe: %s", p->what,
                       strerror(errno));
    goto cleanup;
  }
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addclose(&actions, out_pipe[0]);
  posix_spawn_file_actions_addclose(&actions, err_pipe[0]);
  int spawned = posix_spawn(&pid, "/bin/sh", &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_pipe[1] = err_pipe[1] = -1;
  if (spawned != 0) {
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS, "%s: cannot run /bin/sh: %s", p->what,
                       strerror(spawned));
    goto cleanup;
  }
  s_drain(out_pipe[0], err_pipe[0], o);
  while (waitpid(pid, &o->status, 0) < 0 && errno == EINTR)
    ;
cleanup:
  for (int i = 0; i < 2; i++) {
    if (out_pipe[i] >= 0)
      close(out_pipe[i]);
    if (err_pipe[i] >= 0)
      close(err_pipe[i]);
  }
  return rc;
}

/* The command's stderr, trimmed, for the message of a failed run. */
static const char *s_stderr_text(struct s_outcome *o)
{
  while (o->err_len > 0 &&
         (o->err_text[o->err_len - 1] == '\n' || o->err_text[o->err_len - 1] == ' ' ||
          o->err_text[o->err_len - 1] == '\r'))
    o->err_len--;
  o->err_text[o->err_len] = '\0';
  return o->err_len ? o->err_text : "(nothing on stderr)";
}

static int s_failed(const struct s_process *p, struct s_outcome *o, struct ops_error *err)
{
  if (WIFSIGNALED(o->status))
    return ops_error_set(err, OPS_ERR_CREDENTIALS, "%s was killed by signal %d: %s", p->what,
                         WTERMSIG(o->status), s_stderr_text(o));
  return ops_error_set(err, OPS_ERR_CREDENTIALS, "%s exited with status %d: %s", p->what,
                       WEXITSTATUS(o->status), s_stderr_text(o));
}

static int s_parse(const struct s_process *p, const struct s_outcome *o,
                   struct ops_credentials **out, struct ops_error *err)
{
  static const char *const names[4] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
                                       "Expiration"};
  json_error_t jerr;
  char source[300];
  int rc;
  json_t *json = json_loadb(o->out, o->out_len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json)
    /* jansson's text quotes the input near the error: it could be a secret, so only the place */
    return ops_error_set(err, OPS_ERR_CREDENTIALS,
                         "%s printed output that is not JSON (line %d, column %d); it must print "
                         "{\"Version\": 1, \"AccessKeyId\": ..., \"SecretAccessKey\": ...}",
                         p->what, jerr.line, jerr.column);
  const json_t *version = json_object_get(json, "Version");
  if (!json_is_object(json)) {
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS, "%s printed JSON that is not an object", p->what);
  } else if (!version) {
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "%s printed JSON without \"Version\": it must be 1", p->what);
  } else if (!json_is_integer(version) || json_integer_value(version) != 1) {
    char *shown = json_dumps(version, JSON_ENCODE_ANY);
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "%s printed \"Version\": %.40s; the only supported version is 1", p->what,
                       shown ? shown : "?");
    free(shown);
  } else {
    snprintf(source, sizeof(source), "%s", p->what);
    rc = ops_credentials_from_json(json, names, false, p->what, source, out, err);
  }
  json_decref(json);
  return rc;
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const struct s_process *p = ops_credentials_provider_impl(provider);
  struct s_outcome o = {0};
  struct ops_credentials *credentials = NULL;
  int rc = s_run(p, &o, err);
  if (rc == OPS_OK && (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0))
    rc = s_failed(p, &o, err);
  if (rc == OPS_OK)
    rc = s_parse(p, &o, &credentials, err);
  if (rc != OPS_OK && err->code[0] == '\0')
    ops_error_set_code(err, "CredentialProcessError");
  if (o.out) {
    OPENSSL_cleanse(o.out, o.out_len);
    free(o.out);
  }
  if (rc == OPS_OK)
    ops_credentials_fetch_complete(fetch, credentials, NULL);
  return rc;
}

static void s_destroy(void *impl)
{
  struct s_process *p = impl;
  if (!p)
    return;
  free(p->command);
  free(p->profile);
  free(p->what);
  free(p);
}

static const struct ops_credentials_provider_vtable s_vtable = {
    .name = "credential_process",
    .start = s_start,
    .destroy = s_destroy,
};

int ops_credentials_provider_process_new(struct ops_credentials_provider **out,
                                         const struct ops_credentials_context *context,
                                         const char *command, const char *profile,
                                         struct ops_error *err)
{
  struct s_process *p = calloc(1, sizeof(*p));
  char what[300];
  snprintf(what, sizeof(what), "credential_process of profile %s", profile);
  if (p) {
    p->command = strdup(command);
    p->profile = strdup(profile);
    p->what = strdup(what);
  }
  if (!p || !p->command || !p->profile || !p->what) {
    s_destroy(p);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  return ops_credentials_provider_new(out, &s_vtable, context, p, err);
}
