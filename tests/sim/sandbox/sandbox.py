"""aws___run_script for opsrun-sim, run by CPython itself.

A long-lived helper that sandbox.mjs starts with Debian's `/usr/bin/python3 -I -S` (standard
library only). It speaks JSON lines on stdin/stdout and runs many scripts at once on one asyncio
loop, each as the hosted sandbox does: compiled as a module with top-level await, the value of
its final bare expression as `return_value`, `call_boto3` its only way to AWS.

Node to Python:
  {"type": "init", "shapes": {service: {operation: shape}}, "limit_seconds": S,
   "timeout_error": "TimeoutError: ..."}                        answered {"type": "ready"}
  {"type": "run", "id": N, "code": "..."}                        answered {"type": "done", ...}
  {"type": "reply", "id": N, "call": K, "result": {...}}         or "error": {"type", "message",
                                                                 "code"?, "operation"?}
Python to Node:
  {"type": "call", "id": N, "call": K, "service": s, "operation": o, "region": r|null,
   "params": {...}|null, "report": [...]}    report: botocore's validation lines (empty if valid)
  {"type": "done", "id": N, "status": "success"|"error", "stdout": "...", "stderr": "...",
   "error": "..."|null, "return_value": value}
Timestamps travel from Node as {"$datetime": "ISO 8601"} and become tz-aware datetimes.
"""

import ast
import asyncio
import builtins
import contextvars
import datetime
import functools
import inspect
import io
import json
import os
import signal
import sys
import time
import traceback

SCRIPT_FILENAME = "<script>"
THIS_FILE = __file__
# The final bare expression is assigned to this name; no script can spell it.
RESULT_NAME = "<result>"
# How often a script that hogs the loop is checked against its deadline (and re-interrupted if it
# swallowed the interruption).
TICK_SECONDS = 0.1

# Standard modules a script may import. No public source lists the hosted sandbox's modules, so
# this conservative list is our assumption; anything else fails as a missing module would.
ALLOWED_MODULES = frozenset({
    "asyncio", "base64", "collections", "collections.abc", "datetime", "decimal", "functools",
    "hashlib", "itertools", "json", "math", "re", "statistics", "string", "time", "typing",
    # datetime.strptime and time.strptime import this lazily through the calling script's
    # __import__, so the script's own import hook must let it through.
    "_strptime",
})
# Builtins a script does not get: files, the helper's own stdin, debuggers and site extras.
REMOVED_BUILTINS = frozenset({
    "open", "input", "breakpoint", "help", "exit", "quit", "copyright", "credits", "license",
})
# Audit events refused while a script runs (PEP 578), whatever way the script found to them.
DENIED_EVENT_PREFIXES = (
    "os.", "socket.", "subprocess.", "shutil.", "ctypes.", "glob.", "tempfile.", "urllib.",
    "webbrowser.", "pty.", "mmap.", "fcntl.", "sqlite3.", "syslog.", "resource.", "signal.",
    "ftplib.", "http.", "smtplib.", "poplib.", "imaplib.", "nntplib.", "telnetlib.",
)
STDLIB_DIR = os.path.dirname(os.__file__) + os.sep
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

CURRENT = contextvars.ContextVar("current_script", default=None)
REAL_IMPORT = builtins.__import__


class tzutc(datetime.tzinfo):
    """UTC as boto3 attaches it to response timestamps (dateutil's tzutc, same repr)."""

    def utcoffset(self, dt):
        return datetime.timedelta(0)

    def dst(self, dt):
        return datetime.timedelta(0)

    def tzname(self, dt):
        return "UTC"

    def __repr__(self):
        return "tzutc()"


tzutc.__module__ = "dateutil.tz.tz"
UTC = tzutc()


# botocore's exception classes as scripts see them: same names, modules and messages.
class BotoCoreError(Exception):
    pass


class ParamValidationError(BotoCoreError):
    pass


class UnknownServiceError(BotoCoreError):
    pass


class EndpointConnectionError(BotoCoreError):
    pass


class InvalidRegionError(BotoCoreError, ValueError):
    pass


class ClientError(Exception):
    """botocore's ClientError: `response["Error"]` holds Code and Message."""

    def __init__(self, error_response, operation_name):
        error = error_response["Error"]
        super().__init__(f"An error occurred ({error['Code']}) when calling the {operation_name} "
                         f"operation: {error['Message']}")
        self.response = error_response
        self.operation_name = operation_name


class OperationNotFoundError(Exception):
    """botocore.model's error for an operation name the service model does not have."""


for cls in (BotoCoreError, ParamValidationError, UnknownServiceError, EndpointConnectionError,
            InvalidRegionError, ClientError):
    cls.__module__ = "botocore.exceptions"
OperationNotFoundError.__module__ = "botocore.model"
REMOTE_ERRORS = {cls.__name__: cls for cls in (
    ParamValidationError, UnknownServiceError, EndpointConnectionError, InvalidRegionError,
    OperationNotFoundError)}
REMOTE_ERRORS.update(NotImplementedError=NotImplementedError, RuntimeError=RuntimeError)


class ScriptTimeout(BaseException):
    """Raised into a script that outlives its limit; a BaseException so `except Exception` in the
    script cannot swallow it."""


class Settings:
    shapes = {}
    limit_seconds = 30.0
    timeout_error = "TimeoutError"


# --- botocore's parameter validation ----------------------------------------------------------

VALID_TYPES = {
    "structure": (dict,), "map": (dict,), "list": (list, tuple), "string": (str,),
    "integer": (int,), "long": (int,), "boolean": (bool,), "float": (float, int),
    "double": (float, int),
}


def validation_report(params, shape):
    """botocore's ParamValidationError lines for `params` against an input shape, in its order."""
    errors = []
    validate(params, shape, "", errors)
    return errors


def parameter_name(name):
    return name[1:] if name.startswith(".") else name or "input"


def validate(value, shape, name, errors):
    valid = VALID_TYPES[shape["type"]]
    if not isinstance(value, valid):
        errors.append(f"Invalid type for parameter {parameter_name(name)}, value: {value}, type: "
                      f"{type(value)}, valid types: {', '.join(str(t) for t in valid)}")
    elif shape["type"] == "structure":
        validate_structure(value, shape, name, errors)
    elif shape["type"] == "list":
        for index, item in enumerate(value):
            validate(item, shape["member"], f"{name}[{index}]", errors)


def validate_structure(value, shape, name, errors):
    members = shape["members"]
    for required in shape.get("required", []):
        if required not in value:
            errors.append(f'Missing required parameter in {parameter_name(name)}: "{required}"')
    known = []
    for key in value:
        if key in members:
            known.append(key)
        else:
            errors.append(f'Unknown parameter in {parameter_name(name)}: "{key}", must be one of: '
                          f"{', '.join(members)}")
    for key in known:
        validate(value[key], members[key], f"{name}.{key}", errors)


# --- what crosses the pipe ----------------------------------------------------------------------

def decode_object(obj):
    """A JSON object from Node: a tagged timestamp becomes a datetime, anything else a dict."""
    if len(obj) == 1 and "$datetime" in obj:
        return datetime.datetime.fromisoformat(obj["$datetime"]).replace(tzinfo=UTC)
    return obj


def encode_return_value(obj):
    """json.dumps `default` for a script's return value: datetimes as ISO 8601, as the simulator
    documents; everything else JSON cannot hold fails as json.dumps fails."""
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


class Bridge:
    """The JSON-lines link to the simulator: sends messages, routes replies to their calls."""

    def __init__(self, writer):
        self.writer = writer
        self.scripts = {}

    def send(self, message, raw_tail=""):
        """Writes one message; `raw_tail` is pre-encoded JSON members spliced in at its end."""
        text = json.dumps(message)
        if raw_tail:
            text = text[:-1] + ", " + raw_tail + "}"
        self.writer.write(text.encode() + b"\n")

    def receive(self, line):
        message = json.loads(line, object_hook=decode_object)
        kind = message["type"]
        if kind == "init":
            Settings.shapes = message["shapes"]
            Settings.limit_seconds = message["limit_seconds"]
            Settings.timeout_error = message["timeout_error"]
            self.send({"type": "ready"})
        elif kind == "run":
            Script(self, message["id"], message["code"]).start()
        elif kind == "reply":
            script = self.scripts.get(message["id"])
            if script is not None:
                script.deliver(message)


# --- running one script -------------------------------------------------------------------------

def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """A script's __import__: only ALLOWED_MODULES, refused as a missing module would be."""
    if level == 0 and name not in ALLOWED_MODULES:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    return REAL_IMPORT(name, globals, locals, fromlist, level)


SCRIPT_BUILTINS = {k: v for k, v in vars(builtins).items() if k not in REMOVED_BUILTINS}
SCRIPT_BUILTINS["__import__"] = guarded_import


async def call_boto3(*, service_name, operation_name, region_name=None, params=None):
    """Calls one AWS operation as the caller; returns the response without ResponseMetadata."""
    return await CURRENT.get().call_aws(service_name, operation_name, region_name, params)


@functools.lru_cache(maxsize=256)
def compile_script(source):
    """The script compiled as the hosted sandbox compiles it (a module, top-level await), with its
    final bare expression assigned to RESULT_NAME. Parsing and compiling the tree raise exactly
    the SyntaxErrors compile(source, "<script>", "exec", flags=...) raises. Cached: a sweep sends
    the same code for every account, and a code object serves any number of runs."""
    tree = ast.parse(source, SCRIPT_FILENAME)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        target = ast.Name(RESULT_NAME, ast.Store())
        tree.body[-1] = ast.copy_location(ast.Assign([target], last.value), last)
        ast.fix_missing_locations(tree)
    return compile(tree, SCRIPT_FILENAME, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def own_frames_removed(summary):
    """A traceback without the helper's own frames: the script's frames and the library frames
    they called, as the script's author would read them."""
    stack = traceback.StackSummary.from_list(f for f in summary.stack if f.filename != THIS_FILE)
    summary.stack = stack
    for chained in (summary.__cause__, summary.__context__):
        if chained is not None:
            own_frames_removed(chained)
    return summary


def exception_line(exc):
    """`Type: message` as Python's traceback names the type (module-qualified unless builtin)."""
    name = type(exc).__qualname__
    if type(exc).__module__ not in ("builtins", "__main__"):
        name = f"{type(exc).__module__}.{name}"
    text = str(exc)
    return f"{name}: {text}" if text else name


class Script:
    """One aws___run_script run: its source, output, pending AWS calls, deadline and tasks."""

    def __init__(self, bridge, run_id, source):
        self.bridge = bridge
        self.id = run_id
        self.source = source
        self.stdout = io.StringIO()
        self.calls = {}
        self.call_count = 0
        self.children = set()
        self.deadline = time.monotonic() + Settings.limit_seconds
        self.running = True
        self.expired = False
        self.task = None
        self.timer = None
        self.reported = False

    def start(self):
        loop = asyncio.get_running_loop()
        self.bridge.scripts[self.id] = self
        Alarm.script_started()
        self.timer = loop.call_at(loop.time() + Settings.limit_seconds, self.expire)
        self.task = loop.create_task(self.run(), context=contextvars.copy_context())
        self.task.add_done_callback(self.lost)

    def expire(self):
        """The deadline passed while the loop was free: cancel the script, again and again if it
        swallows the cancellation."""
        if not self.running:
            return
        self.expired = True
        for task in (self.task, *self.children):
            task.cancel()
        self.timer = asyncio.get_running_loop().call_later(TICK_SECONDS, self.expire)

    async def run(self):
        CURRENT.set(self)
        try:
            value = await self.value()
            self.finish()
            self.report_value(value)
        except BaseException as exc:  # the script's failure, whatever it is, is its envelope
            self.finish()
            self.report_failure(exc)

    async def value(self):
        code = compile_script(self.source)
        namespace = {"__name__": "__main__", "__builtins__": SCRIPT_BUILTINS,
                     "call_boto3": call_boto3}
        outcome = eval(code, namespace)
        if code.co_flags & inspect.CO_COROUTINE:
            await outcome
        return namespace.get(RESULT_NAME)

    def finish(self):
        self.running = False
        self.timer.cancel()
        for task in self.children:
            task.cancel()
        del self.bridge.scripts[self.id]
        Alarm.script_finished()

    def report_value(self, value):
        try:
            encoded = json.dumps(value, default=encode_return_value, allow_nan=False)
        except (TypeError, ValueError) as exc:  # the script ran; only its value cannot travel
            self.send_done("error", exception_line(exc), exception_line(exc) + "\n")
            return
        self.send_done("success", None, "", f'"return_value": {encoded}')

    def report_failure(self, exc):
        summary = own_frames_removed(traceback.TracebackException.from_exception(exc))
        if not self.expired:
            self.send_done("error", exception_line(exc), "".join(summary.format()))
            return
        # Stopped at its limit: where it was, then the timeout instead of how it was stopped.
        frames = "".join(summary.stack.format())
        header = "Traceback (most recent call last):\n" if frames else ""
        self.send_done("error", Settings.timeout_error, f"{header}{frames}{Settings.timeout_error}\n")

    def send_done(self, status, error, stderr, raw_tail='"return_value": null'):
        self.bridge.send({"type": "done", "id": self.id, "status": status,
                          "stdout": self.stdout.getvalue(), "stderr": stderr, "error": error},
                         raw_tail)
        self.reported = True

    def lost(self, task):
        """The script task ended without reporting (interrupted inside its own bookkeeping)."""
        if self.reported:
            return
        if self.running:
            self.finish()
        self.send_done("error", Settings.timeout_error, f"{Settings.timeout_error}\n")

    async def call_aws(self, service, operation, region, params):
        for name, value in (("service_name", service), ("operation_name", operation)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be str, not {type(value).__name__}")
        if region is not None and not isinstance(region, str):
            raise TypeError(f"region_name must be str or None, not {type(region).__name__}")
        shape = Settings.shapes.get(service, {}).get(operation)
        params = {} if params is None else params
        report = validation_report(params, shape) if shape else []
        self.call_count += 1
        number = self.call_count
        reply = asyncio.get_running_loop().create_future()
        self.calls[number] = reply
        self.bridge.send({"type": "call", "id": self.id, "call": number, "service": service,
                          "operation": operation, "region": region,
                          "params": params if shape and not report else None, "report": report})
        try:
            message = await reply
        finally:
            del self.calls[number]
        if "error" in message:
            raise remote_error(message["error"])
        return message["result"]

    def deliver(self, message):
        reply = self.calls.get(message["call"])
        if reply is not None and not reply.done():
            reply.set_result(message)


def remote_error(error):
    """The exception a script sees for an error the simulator answered."""
    if error["type"] == "ClientError":
        response = {"Error": {"Code": error["code"], "Message": error["message"]}}
        return ClientError(response, error["operation"])
    return REMOTE_ERRORS[error["type"]](error["message"])


def spawned_task(loop, coro, context=None):
    """The loop's task factory: remembers the tasks a script starts, so they end with it."""
    task = asyncio.Task(coro, loop=loop, context=context)
    script = CURRENT.get() if context is None else context.get(CURRENT)
    if script is not None and script.running:
        script.children.add(task)
        task.add_done_callback(script.children.discard)
    return task


class Alarm:
    """SIGALRM every TICK_SECONDS while scripts are in flight. A script that keeps the loop busy
    past its deadline is interrupted where it runs: the handler runs in the context of the task
    it interrupted, so CURRENT names the culprit."""

    in_flight = 0

    @classmethod
    def script_started(cls):
        cls.in_flight += 1
        if cls.in_flight == 1:
            signal.setitimer(signal.ITIMER_REAL, TICK_SECONDS, TICK_SECONDS)

    @classmethod
    def script_finished(cls):
        cls.in_flight -= 1
        if cls.in_flight == 0:
            signal.setitimer(signal.ITIMER_REAL, 0)

    @staticmethod
    def handler(signum, frame):
        script = CURRENT.get()
        if script is not None and script.running and time.monotonic() >= script.deadline:
            script.expired = True
            raise ScriptTimeout()


def refuse_outside_world(event, args):
    """Audit hook: while a script runs, no file outside the standard library, no directory
    listing outside it, no process, socket or other OS call."""
    if CURRENT.get() is None:
        return
    if event == "open":
        path, mode, flags = args
        writes = (mode is None and flags & WRITE_FLAGS) or (mode and any(c in mode for c in "wax+"))
        if isinstance(path, (str, bytes)) and in_stdlib(path) and not writes:
            return
    elif event in ("os.listdir", "os.scandir"):
        if isinstance(args[0], (str, bytes)) and in_stdlib(args[0]):
            return
    elif not event.startswith(DENIED_EVENT_PREFIXES):
        return
    raise PermissionError(f"opsrun-sim sandbox: {event} is not allowed")


def in_stdlib(path):
    return os.path.abspath(os.fsdecode(path)).startswith(STDLIB_DIR)


class ScriptOutput(io.TextIOBase):
    """sys.stdout while scripts run: print() lands in the output of the script whose task is
    running, so concurrent scripts keep their outputs apart."""

    def writable(self):
        return True

    def write(self, text):
        script = CURRENT.get()
        target = script.stdout if script is not None else sys.__stderr__
        return target.write(text)


async def serve():
    loop = asyncio.get_running_loop()
    loop.set_task_factory(spawned_task)
    reader = asyncio.StreamReader(limit=1 << 30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, sys.__stdout__)
    bridge = Bridge(transport)
    while line := await reader.readline():
        bridge.receive(line)
    # The simulator is gone: leave at once, even if a script ignores every cancellation.
    os._exit(0)


def main():
    for name in ALLOWED_MODULES:
        __import__(name)  # loaded once up front: scripts then import without touching the disk
    sys.stdout = ScriptOutput()
    signal.signal(signal.SIGALRM, Alarm.handler)
    sys.addaudithook(refuse_outside_world)
    asyncio.run(serve())


if __name__ == "__main__":
    main()
