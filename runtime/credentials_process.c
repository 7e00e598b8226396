/* credentials_process.c: the credential_process source: runs the profile's command with
 * /bin/sh -c on the event loop (its pipes and its exit watched by runtime/loop.h, so other work
 * goes on while it runs), reads its stdout as JSON Version 1 (AccessKeyId, SecretAccessKey,
 * SessionToken, Expiration) with jansson, and words its failures (exit status and stderr, bad
 * JSON, wrong Version, missing members, no end within the time limit) without ever echoing what
 * it printed on stdout. */
#define _GNU_SOURCE /* pipe2 */
#include "runtime/credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#define S_MAX_STDOUT   ((size_t)1 << 20)
#define S_MAX_STDERR   ((size_t)2048)
#define S_EXIT_POLL_MS 20 /* how often the exit is looked for where pidfd_open is refused */

extern char **environ;

struct s_process {
  char *command;
  char *profile;
  char *what; /* "credential_process of profile x" */
};

struct s_run;

/* The read end of one of the command's output pipes, read as it fills; what does not fit is
 * read and dropped, so that the command never blocks on a full pipe. */
struct s_pipe {
  struct s_run *run;
  int fd; /* -1 once at its end */
  struct ops_watch *watch;
  char *data;
  size_t len, cap;
  bool overflowed; /* more came than cap */
};

/* One run of the command: the state of a fetch. */
struct s_run {
  struct ops_credentials_fetch *fetch;
  const struct s_process *process;
  struct ops_loop *loop;
  long timeout_ms;
  pid_t pid; /* 0 once reaped */
  int status;
  int exit_fd; /* a pidfd, readable once the command has exited; -1 without one */
  struct ops_watch *exit_watch;
  struct ops_timer *exit_poll; /* without a pidfd */
  struct ops_timer *deadline;
  struct s_pipe out; /* a secret */
  struct s_pipe err;
  char err_text[S_MAX_STDERR + 1];
};

/* ------------------------------------------------------------------ reading */

static void s_pipe_close(struct s_pipe *pipe)
{
  if (pipe->watch)
    ops_loop_watch_cancel(pipe->run->loop, pipe->watch);
  pipe->watch = NULL;
  if (pipe->fd >= 0)
    close(pipe->fd);
  pipe->fd = -1;
}

/* Reads what the pipe holds now, to its end if the writers have all gone. */
static void s_pipe_read(struct s_pipe *pipe)
{
  char chunk[4096];
  while (pipe->fd >= 0) {
    ssize_t n = read(pipe->fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    if (n <= 0) {
      s_pipe_close(pipe);
      break;
    }
    size_t keep = pipe->cap - pipe->len < (size_t)n ? pipe->cap - pipe->len : (size_t)n;
    memcpy(pipe->data + pipe->len, chunk, keep);
    pipe->len += keep;
    pipe->overflowed |= keep < (size_t)n;
  }
  OPENSSL_cleanse(chunk, sizeof(chunk));
}

/* ------------------------------------------------------------------ the outcome */

/* stdout past S_MAX_STDOUT: the command cannot be printing credentials. */
static int s_too_much(const struct s_process *p, struct ops_error *err)
{
  return ops_error_set(err, OPS_ERR_CREDENTIALS,
                       "%s printed more than %zu bytes on stdout, the most opsrun reads (its "
                       "JSON holds a few kilobytes)",
                       p->what, S_MAX_STDOUT);
}

/* The command's stderr, trimmed, for the message of a failed run. */
static const char *s_stderr_text(struct s_run *run)
{
  size_t len = run->err.len;
  while (len > 0 && (run->err_text[len - 1] == '\n' || run->err_text[len - 1] == ' ' ||
                     run->err_text[len - 1] == '\r'))
    len--;
  run->err_text[len] = '\0';
  return len ? run->err_text : "(nothing on stderr)";
}

static int s_failed(struct s_run *run, struct ops_error *err)
{
  const char *what = run->process->what;
  if (WIFSIGNALED(run->status))
    return ops_error_set(err, OPS_ERR_CREDENTIALS, "%s was killed by signal %d: %s", what,
                         WTERMSIG(run->status), s_stderr_text(run));
  return ops_error_set(err, OPS_ERR_CREDENTIALS, "%s exited with status %d: %s", what,
                       WEXITSTATUS(run->status), s_stderr_text(run));
}

static int s_parse(const struct s_process *p, const struct s_pipe *out,
                   struct ops_credentials **credentials, struct ops_error *err)
{
  static const char *const names[4] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
                                       "Expiration"};
  json_error_t jerr;
  char source[300];
  int rc;
  if (out->overflowed)
    return s_too_much(p, err);
  json_t *json = json_loadb(out->data, out->len, JSON_REJECT_DUPLICATES, &jerr);
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
    rc = ops_credentials_from_json(json, names, false, p->what, source, credentials, err);
  }
  json_decref(json);
  return rc;
}

/* ------------------------------------------------------------------ the run */

/* Stops the command if it still runs (SIGKILL, then reaping it, which is then at once) and
 * frees the run. Processes it started in the background are left alone. */
static void s_run_free(struct s_run *run)
{
  if (run->pid > 0) {
    kill(run->pid, SIGKILL);
    while (waitpid(run->pid, &run->status, 0) < 0 && errno == EINTR)
      continue;
  }
  if (run->exit_watch)
    ops_loop_watch_cancel(run->loop, run->exit_watch);
  if (run->exit_fd >= 0)
    close(run->exit_fd);
  if (run->exit_poll)
    ops_loop_timer_cancel(run->loop, run->exit_poll);
  if (run->deadline)
    ops_loop_timer_cancel(run->loop, run->deadline);
  s_pipe_close(&run->out);
  s_pipe_close(&run->err);
  if (run->out.data) {
    OPENSSL_cleanse(run->out.data, run->out.len);
    free(run->out.data);
  }
  free(run);
}

/* Ends the fetch with the run's outcome, or with `failure` when set. */
static void s_run_end(struct s_run *run, int failure, struct ops_error *err)
{
  struct ops_credentials *credentials = NULL;
  int rc = failure;
  if (rc == OPS_OK && (!WIFEXITED(run->status) || WEXITSTATUS(run->status) != 0))
    rc = s_failed(run, err);
  if (rc == OPS_OK)
    rc = s_parse(run->process, &run->out, &credentials, err);
  if (rc != OPS_OK && err->code[0] == '\0')
    ops_error_set_code(err, "CredentialProcessError");
  struct ops_credentials_fetch *fetch = run->fetch;
  s_run_free(run);
  ops_credentials_fetch_complete(fetch, credentials, rc == OPS_OK ? NULL : err);
}

/* The command has exited (its pidfd became readable, or the poll found it): what it wrote is in
 * the pipes, so the run ends now, even if a process it left in the background keeps them open. */
static bool s_reaped(struct s_run *run)
{
  pid_t pid;
  while ((pid = waitpid(run->pid, &run->status, WNOHANG)) < 0 && errno == EINTR)
    continue;
  if (pid == 0)
    return false;
  run->pid = 0;
  s_pipe_read(&run->out);
  s_pipe_read(&run->err);
  struct ops_error err = {0};
  s_run_end(run, OPS_OK, &err);
  return true;
}

static void s_on_exit(void *ud)
{
  s_reaped(ud);
}

/* Output is read as it comes; a command that prints too much on stdout is stopped at once. */
static void s_on_pipe(void *ud)
{
  struct s_pipe *pipe = ud;
  s_pipe_read(pipe);
  if (pipe == &pipe->run->out && pipe->overflowed) {
    struct ops_error err;
    s_run_end(pipe->run, s_too_much(pipe->run->process, &err), &err);
  }
}

static void s_poll_exit(void *ud)
{
  struct s_run *run = ud;
  run->exit_poll = NULL;
  if (!s_reaped(run) &&
      !(run->exit_poll = ops_loop_timer_start(run->loop, S_EXIT_POLL_MS, s_poll_exit, run))) {
    struct ops_error err;
    s_run_end(run, ops_error_set(&err, OPS_ERR_NOMEM, "out of memory"), &err);
  }
}

static void s_on_deadline(void *ud)
{
  struct s_run *run = ud;
  run->deadline = NULL;
  s_pipe_read(&run->err);
  struct ops_error err;
  int rc =
      ops_error_set(&err, OPS_ERR_CREDENTIALS, "%s did not finish within %g s and was stopped: %s",
                    run->process->what, (double)run->timeout_ms / 1000, s_stderr_text(run));
  s_run_end(run, rc, &err);
}

/* A pipe whose ends are closed in any program opsrun starts, its read end non-blocking. */
static int s_pipe_open(int ends[2])
{
  if (pipe2(ends, O_CLOEXEC) != 0)
    return -1;
  return fcntl(ends[0], F_SETFL, O_NONBLOCK);
}

/* Starts the command with its stdout and stderr on the pipes; stdin and the environment are
 * opsrun's (a command may ask for an MFA code on the terminal). */
static int s_spawn(struct s_run *run, const struct s_process *p, struct ops_error *err)
{
  int out[2] = {-1, -1}, errs[2] = {-1, -1};
  char *argv[] = {"sh", "-c", p->command, NULL};
  int rc = OPS_OK;
  if (s_pipe_open(out) != 0 || s_pipe_open(errs) != 0) {
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS, "%s: cannot make a pipe: %s", p->what,
                       strerror(errno));
    goto cleanup;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, errs[1], 2);
  int spawned = posix_spawn(&run->pid, "/bin/sh", &actions, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    run->pid = 0;
    rc = ops_error_set(err, OPS_ERR_CREDENTIALS, "%s: cannot run /bin/sh: %s", p->what,
                       strerror(spawned));
    goto cleanup;
  }
  run->out.fd = out[0];
  run->err.fd = errs[0];
  out[0] = errs[0] = -1;
cleanup:
  for (int i = 0; i < 2; i++) {
    if (out[i] >= 0)
      close(out[i]);
    if (errs[i] >= 0)
      close(errs[i]);
  }
  return rc;
}

/* Watches the pipes and the exit (a pidfd where the kernel allows one, else a poll) and starts
 * the time limit. */
static bool s_watch(struct s_run *run)
{
  run->out.watch = ops_loop_watch_start(run->loop, run->out.fd, s_on_pipe, &run->out);
  run->err.watch = ops_loop_watch_start(run->loop, run->err.fd, s_on_pipe, &run->err);
  run->exit_fd = pidfd_open(run->pid, 0); /* close-on-exec, as every pidfd */
  if (run->exit_fd >= 0)
    run->exit_watch = ops_loop_watch_start(run->loop, run->exit_fd, s_on_exit, run);
  else
    run->exit_poll = ops_loop_timer_start(run->loop, S_EXIT_POLL_MS, s_poll_exit, run);
  run->deadline = ops_loop_timer_start(run->loop, (uint64_t)run->timeout_ms, s_on_deadline, run);
  return run->out.watch && run->err.watch && (run->exit_watch || run->exit_poll) && run->deadline;
}

static int s_start(struct ops_credentials_provider *provider, struct ops_credentials_fetch *fetch,
                   struct ops_error *err)
{
  const struct s_process *p = ops_credentials_provider_impl(provider);
  const struct ops_credentials_context *context = ops_credentials_provider_context(provider);
  struct s_run *run = calloc(1, sizeof(*run));
  if (!run || !(run->out.data = malloc(S_MAX_STDOUT))) {
    free(run);
    return ops_error_set(err, OPS_ERR_NOMEM, "out of memory");
  }
  run->fetch = fetch;
  run->process = p;
  run->loop = context->loop;
  run->timeout_ms = context->process_timeout_ms > 0 ? context->process_timeout_ms
                                                    : OPS_CREDENTIALS_PROCESS_TIMEOUT_MS;
  run->exit_fd = -1;
  run->out = (struct s_pipe){.run = run, .fd = -1, .data = run->out.data, .cap = S_MAX_STDOUT};
  run->err = (struct s_pipe){.run = run, .fd = -1, .data = run->err_text, .cap = S_MAX_STDERR};
  int rc = s_spawn(run, p, err);
  if (rc == OPS_OK && !s_watch(run))
    rc = ops_error_set(err, OPS_ERR_NOMEM, "%s: out of memory watching it", p->what);
  if (rc != OPS_OK) {
    s_run_free(run);
    ops_error_set_code(err, "CredentialProcessError");
    return rc;
  }
  ops_credentials_fetch_set_state(fetch, run);
  return OPS_OK;
}

static void s_cancel(struct ops_credentials_fetch *fetch)
{
  s_run_free(ops_credentials_fetch_state(fetch));
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
    .cancel = s_cancel,
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
