"""The local world's IAM: each Lambda's own access key is refused every call its role's policies
(from the synthesized template, cdk/iam-policies.json) do not allow, as IAM would.

moto_runner.py puts this in front of moto: a request signed with a registered function's access
key is mapped to its IAM action(s) and resource ARN(s) per the Service Authorization Reference and
evaluated with moto's own policy evaluator (moto.iam.access_control.IAMPolicy); a refusal is
answered with the service's AccessDeniedException and recorded. The SIR emulator asks the same
question over HTTP for its calls (POST /_local-world/iam/authorize). Keys nobody registered (the
test harness, a responder) are allowed everything, as an administrator would be.

Routes:
  POST /_local-world/iam/principals  {"accessKeyId","function","role","policies":[document…]}
  POST /_local-world/iam/authorize   {"accessKeyId","action","resource"} -> {"allowed","message"}
  GET  /_local-world/iam/denials     -> [{"accessKeyId","function","action","resource"}…]

Every (function, action) allowed is appended once per process to the file named by
LOCAL_IAM_EXERCISED_LOG (JSON lines), for the coverage check (tests/iam_coverage.py).
"""

import io
import json
import os
import threading
from urllib.parse import parse_qs

from moto.iam.access_control import IAMPolicy, PermissionResult

REGION = "us-east-1"
ACCOUNT = "123456789012"
PREFIX = "/_local-world/iam/"


class Principal:
    def __init__(self, function, role, policies):
        self.function = function
        self.role = role
        self.policies = [IAMPolicy(json.dumps(doc)) for doc in policies]

    def arn(self):
        return f"arn:aws:sts::{ACCOUNT}:assumed-role/{self.role}/{self.function}"

    def allows(self, action, resource):
        """IAM's evaluation for identity policies alone: an explicit Deny wins, then any Allow."""
        allowed = False
        for policy in self.policies:
            result = policy.is_action_permitted(action, resource)
            if result == PermissionResult.DENIED:
                return False
            if result == PermissionResult.PERMITTED:
                allowed = True
        return allowed


class LocalIam:
    def __init__(self):
        self._lock = threading.Lock()
        self._principals = {}
        self._denials = []
        self._exercised = set()
        # (access key, "service:Operation") -> requests made with that key: the bench counts
        # each function's AWS calls here (one per request, whatever it needs allowed).
        self._calls = {}
        self._log_path = os.environ.get("LOCAL_IAM_EXERCISED_LOG")

    # ---- evaluation ----
    def authorize(self, access_key_id, action, resource):
        """(allowed, message). Unregistered keys are allowed."""
        with self._lock:
            principal = self._principals.get(access_key_id)
        if principal is None:
            return True, ""
        if principal.allows(action, resource):
            self._record_exercised(principal.function, action)
            return True, ""
        message = (
            f"User: {principal.arn()} is not authorized to perform: {action} on resource: "
            f"{resource} because no identity-based policy allows the {action} action"
        )
        return False, self._deny(access_key_id, action, resource, message)

    def _deny(self, access_key_id, action, resource, message):
        with self._lock:
            principal = self._principals.get(access_key_id)
            self._denials.append(
                {
                    "accessKeyId": access_key_id,
                    "function": principal.function if principal else None,
                    "action": action,
                    "resource": resource,
                    "message": message,
                }
            )
        return message

    def _record_exercised(self, function, action):
        key = (function, action)
        with self._lock:
            if key in self._exercised:
                return
            self._exercised.add(key)
            if self._log_path:
                with open(self._log_path, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"function": function, "action": action}) + "\n")

    # ---- the admin routes ----
    def handles(self, environ):
        return environ.get("PATH_INFO", "").startswith(PREFIX)

    def admin(self, environ, start_response):
        path = environ["PATH_INFO"][len(PREFIX):]
        method = environ["REQUEST_METHOD"]
        try:
            if method == "POST" and path == "principals":
                body = _json_body(environ)
                principal = Principal(body["function"], body["role"], body["policies"])
                with self._lock:
                    self._principals[body["accessKeyId"]] = principal
                return _respond(start_response, 200, {"registered": body["accessKeyId"]})
            if method == "POST" and path == "authorize":
                body = _json_body(environ)
                allowed, message = self.authorize(body["accessKeyId"], body["action"], body["resource"])
                return _respond(start_response, 200, {"allowed": allowed, "message": message})
            if method == "GET" and path == "calls":
                with self._lock:
                    calls = [
                        {
                            "accessKeyId": key,
                            "function": self._principals[key].function,
                            "call": call,
                            "count": count,
                        }
                        for (key, call), count in sorted(self._calls.items())
                    ]
                return _respond(start_response, 200, calls)
            if method == "GET" and path == "denials":
                with self._lock:
                    denials = list(self._denials)
                return _respond(start_response, 200, denials)
        except (KeyError, ValueError, TypeError) as error:
            return _respond(start_response, 400, {"message": f"bad local IAM request: {error!r}"})
        return _respond(start_response, 404, {"message": f"no local IAM route {method} {path}"})

    # ---- moto's services ----
    def check_aws_request(self, environ):
        """None when allowed (or not a function's key), else the WSGI response parts of a refusal."""
        access_key_id, service = _credential(environ.get("HTTP_AUTHORIZATION", ""))
        if access_key_id is None:
            return None
        with self._lock:
            registered = access_key_id in self._principals
        if not registered:
            return None
        body = _read_body(environ)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        call = f"{service}:{_operation(target, body)}"
        with self._lock:
            self._calls[(access_key_id, call)] = self._calls.get((access_key_id, call), 0) + 1
        try:
            checks = required_permissions(service, target, body)
        except UnmappedOperation as unmapped:
            # Never kinder than IAM: a call the local IAM cannot name is refused, not waved through.
            return _refusal(service, self._deny(access_key_id, f"{service}:?", "*",
                f"local IAM: no mapping of {unmapped} to IAM actions: add it to tests/local_iam.py"))
        for action, resource in checks:
            allowed, message = self.authorize(access_key_id, action, resource)
            if not allowed:
                return _refusal(service, message)
        return None


class UnmappedOperation(Exception):
    pass


def _arn(service, resource):
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


def _table_arn(name, index=None):
    if name.startswith("arn:"):
        base = name
    else:
        base = _arn("dynamodb", f"table/{name}")
    return f"{base}/index/{index}" if index else base


def _bus_arn(name):
    if not name:
        name = "default"
    return name if name.startswith("arn:") else _arn("events", f"event-bus/{name}")


def _rule_arn(name, bus):
    if not bus or bus == "default":
        return _arn("events", f"rule/{name}")
    bus_name = bus.rsplit("/", 1)[-1] if bus.startswith("arn:") else bus
    return _arn("events", f"rule/{bus_name}/{name}")


def _parameter_arn(name):
    if name.startswith("arn:"):
        return name
    return _arn("ssm", "parameter" + (name if name.startswith("/") else "/" + name))


# Inside TransactWriteItems each item is authorised as its own action (Service Authorization
# Reference, DynamoDB: "TransactWriteItems … dependent actions").
_TRANSACT_WRITE = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def _operation(target, body):
    """The operation a request calls: its X-Amz-Target's last part, or a query body's Action."""
    if target:
        return target.rsplit(".", 1)[-1]
    action = parse_qs(body.decode("utf-8", "replace")).get("Action") if body else None
    return action[0] if action else "?"


def required_permissions(service, target, body):
    """[(action, resource ARN)] one request needs, per the Service Authorization Reference."""
    operation = target.rsplit(".", 1)[-1] if target else ""
    data = {}
    if body:
        try:
            data = json.loads(body)
        except ValueError:
            data = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
            operation = operation or data.get("Action", "")
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            checks = []
            for item in data.get("TransactItems", []):
                for kind, action in _TRANSACT_WRITE.items():
                    if kind in item:
                        checks.append((f"dynamodb:{action}", _table_arn(item[kind]["TableName"])))
            return checks
        if operation == "TransactGetItems":
            return [("dynamodb:GetItem", _table_arn(i["Get"]["TableName"])) for i in data.get("TransactItems", [])]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", _table_arn(t)) for t in data.get("RequestItems", {})]
        if "TableName" in data:
            return [(f"dynamodb:{operation}", _table_arn(data["TableName"], data.get("IndexName")))]
        raise UnmappedOperation(f"dynamodb {operation}")
    if service == "events":
        if operation == "PutEvents":
            buses = {entry.get("EventBusName", "default") for entry in data.get("Entries", [])}
            return [("events:PutEvents", _bus_arn(bus)) for bus in sorted(buses)]
        if operation in ("PutRule", "DescribeRule", "DeleteRule", "EnableRule", "DisableRule", "PutTargets", "RemoveTargets", "ListTargetsByRule"):
            name = data.get("Name") or data.get("Rule")
            return [(f"events:{operation}", _rule_arn(name, data.get("EventBusName")))]
        raise UnmappedOperation(f"events {operation}")
    if service == "ssm":
        if operation == "GetParameters":
            return [("ssm:GetParameters", _parameter_arn(n)) for n in data.get("Names", [])]
        if operation in ("GetParameter", "PutParameter", "DeleteParameter"):
            return [(f"ssm:{operation}", _parameter_arn(data["Name"]))]
        raise UnmappedOperation(f"ssm {operation}")
    if service == "sns" and operation == "Publish":
        return [("sns:Publish", data.get("TopicArn", "*"))]
    if service == "sqs" and operation in ("SendMessage", "ReceiveMessage", "DeleteMessage"):
        url = data.get("QueueUrl", "")
        return [(f"sqs:{operation}", _arn("sqs", url.rstrip("/").rsplit("/", 1)[-1]))]
    raise UnmappedOperation(f"{service} {operation or target or '<no operation>'}")


def _credential(authorization):
    """(access key id, service) of a SigV4 Authorization header."""
    for part in authorization.replace(",", " ").split():
        if part.startswith("Credential="):
            scope = part[len("Credential="):].split("/")
            if len(scope) >= 5:
                return scope[0], scope[3]
    return None, None


def _read_body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _json_body(environ):
    return json.loads(_read_body(environ) or b"{}")


def _respond(start_response, status, payload):
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    data = json.dumps(payload).encode("utf-8")
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _refusal(service, message):
    """The service's own refusal: SNS (awsQuery) answers 403 AuthorizationError in XML; the JSON
    protocols answer 400 AccessDeniedException with __type."""
    if service == "sns":
        escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        xml = (
            '<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>'
            f"<Code>AuthorizationError</Code><Message>{escaped}</Message></Error>"
            "<RequestId>local-iam</RequestId></ErrorResponse>"
        ).encode("utf-8")
        return "403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(xml)))], [xml]
    if service in ("dynamodb",):
        error_type = "com.amazonaws.dynamodb.v20120810#AccessDeniedException"
    else:
        error_type = "AccessDeniedException"
    payload = json.dumps({"__type": error_type, "message": message, "Message": message}).encode("utf-8")
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Content-Length", str(len(payload))),
        ("x-amzn-ErrorType", "AccessDeniedException"),
    ]
    return "400 Bad Request", headers, [payload]
