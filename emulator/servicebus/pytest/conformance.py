"""Conformance script driving the Service Bus emulator with the Python SDK (azure-servicebus 7.8 on
uamqp, Debian's python3-azure); run by pytest_test.go.

Environment:
  SB_CONNECTION_STRING  a connection string without UseDevelopmentEmulator (TLS)
  SB_CA_FILE            the emulator's CA (ca.crt), passed as connection_verify
  SB_TRANSPORT          "amqps" (AMQP over TLS) or "websocket" (AMQP over WebSockets)
  SB_PORT               the emulator's AMQPS or HTTPS port
  SB_ENTITIES           JSON: case -> queue name

Prints one line per case ("ok NAME" or "FAIL NAME: reason") and a summary line.
"""

import base64
import json
import os
import sys
import time
import traceback

from azure.core.credentials import AccessToken

from azure.servicebus import (
    NEXT_AVAILABLE_SESSION,
    ServiceBusClient,
    ServiceBusMessage,
    ServiceBusReceiveMode,
    ServiceBusSubQueue,
)
from azure.servicebus._common import _configuration

TIMEOUT = 10  # seconds a receive waits for its messages

TRANSPORT = os.environ["SB_TRANSPORT"]
PORT = int(os.environ["SB_PORT"])
if TRANSPORT == "amqps":
    # The SDK connects the AMQP transport to 5671 only, with no option for another port; the
    # emulator's test runs on a free port, so only the constant the SDK reads is replaced.
    _configuration.DEFAULT_AMQPS_PORT = PORT


def client_kwargs():
    kwargs = {"connection_verify": os.environ["SB_CA_FILE"], "retry_total": 1}
    if TRANSPORT == "websocket":
        # custom_endpoint_address makes the SDK use AMQP over WebSockets on this host and port.
        kwargs["custom_endpoint_address"] = "sb://localhost:%d" % PORT
    return kwargs


def client():
    return ServiceBusClient.from_connection_string(os.environ["SB_CONNECTION_STRING"], **client_kwargs())


class UnsignedJWT:
    """A TokenCredential handing out unsigned Entra-style tokens, standing in for azure-identity
    (which cannot reach Entra from a test); the emulator accepts them with -accept-unverified-jwt."""

    def get_token(self, *scopes, **kwargs):
        exp = int(time.time()) + 3600
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
        token = enc({"alg": "none", "typ": "JWT"}) + "." + enc({"aud": "https://servicebus.azure.net", "exp": exp}) + "."
        return AccessToken(token, exp)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def receive(receiver, n):
    got = []
    while len(got) < n:
        batch = receiver.receive_messages(max_message_count=n - len(got), max_wait_time=TIMEOUT)
        check(batch, "received %d of %d messages" % (len(got), n))
        got.extend(batch)
    return got


def body(msg):
    return b"".join(msg.body).decode()


def send_receive_complete(sb, q):
    with sb.get_queue_sender(q) as sender:
        sender.send_messages([ServiceBusMessage("m%d" % i, application_properties={"i": i}) for i in range(3)])
    with sb.get_queue_receiver(q) as receiver:
        msgs = receive(receiver, 3)
        check(sorted(body(m) for m in msgs) == ["m0", "m1", "m2"], "bodies %r" % [body(m) for m in msgs])
        check(all(m.application_properties[b"i"] == int(body(m)[1:]) for m in msgs), "application properties")
        for m in msgs:
            receiver.complete_message(m)
        check(receiver.receive_messages(max_wait_time=1) == [], "a completed message came back")


def abandon(sb, q):
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(ServiceBusMessage("again"))
    with sb.get_queue_receiver(q) as receiver:
        first = receive(receiver, 1)[0]
        receiver.abandon_message(first)
        second = receive(receiver, 1)[0]
        check(body(second) == "again", "body %r" % body(second))
        check(second.delivery_count == first.delivery_count + 1,
              "delivery count %d after %d" % (second.delivery_count, first.delivery_count))
        receiver.complete_message(second)


def dead_letter(sb, q):
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(ServiceBusMessage("poison"))
    with sb.get_queue_receiver(q) as receiver:
        m = receive(receiver, 1)[0]
        receiver.dead_letter_message(m, reason="bad", error_description="cannot parse")
    with sb.get_queue_receiver(q, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as dlq:
        d = receive(dlq, 1)[0]
        check(body(d) == "poison", "dead-letter body %r" % body(d))
        check(d.dead_letter_reason == "bad", "reason %r" % d.dead_letter_reason)
        check(d.dead_letter_error_description == "cannot parse", "description %r" % d.dead_letter_error_description)
        dlq.complete_message(d)


def receive_and_delete(sb, q):
    with sb.get_queue_sender(q) as sender:
        sender.send_messages(ServiceBusMessage("once"))
    with sb.get_queue_receiver(q, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE) as receiver:
        m = receive(receiver, 1)[0]
        check(body(m) == "once", "body %r" % body(m))
        check(receiver.receive_messages(max_wait_time=1) == [], "a received-and-deleted message came back")


def sessions(sb, q):
    with sb.get_queue_sender(q) as sender:
        sender.send_messages([ServiceBusMessage("a%d" % i, session_id="sa") for i in range(2)])
        sender.send_messages(ServiceBusMessage("b0", session_id="sb"))
    with sb.get_queue_receiver(q, session_id="sa") as receiver:
        msgs = receive(receiver, 2)
        check([body(m) for m in msgs] == ["a0", "a1"], "session sa in order: %r" % [body(m) for m in msgs])
        check(all(m.session_id == "sa" for m in msgs), "session ids %r" % [m.session_id for m in msgs])
        receiver.session.set_state("step-2")
        check(receiver.session.get_state() == b"step-2", "session state %r" % receiver.session.get_state())
        for m in msgs:
            receiver.complete_message(m)
    with sb.get_queue_receiver(q, session_id=NEXT_AVAILABLE_SESSION, max_wait_time=TIMEOUT) as receiver:
        check(receiver.session.session_id == "sb", "next session %r" % receiver.session.session_id)
        m = receive(receiver, 1)[0]
        check(body(m) == "b0", "body %r" % body(m))
        receiver.complete_message(m)


def token_credential(_sb, q):
    with ServiceBusClient("localhost", UnsignedJWT(), **client_kwargs()) as sb:
        with sb.get_queue_sender(q) as sender:
            sender.send_messages(ServiceBusMessage("with a token"))
        with sb.get_queue_receiver(q) as receiver:
            m = receive(receiver, 1)[0]
            check(body(m) == "with a token", "body %r" % body(m))
            receiver.complete_message(m)


CASES = {
    "send-receive-complete": send_receive_complete,
    "abandon": abandon,
    "dead-letter": dead_letter,
    "receive-and-delete": receive_and_delete,
    "sessions": sessions,
    "token-credential": token_credential,
}


def main():
    entities = json.loads(os.environ["SB_ENTITIES"])
    passed = failed = 0
    with client() as sb:
        for name, fn in CASES.items():
            try:
                fn(sb, entities[name])
            except Exception as e:  # noqa: BLE001 - every failure is reported per case
                failed += 1
                reason = ("%s: %s" % (type(e).__name__, e)).replace("\n", " ")
                print("FAIL %s: %s" % (name, reason), flush=True)
                traceback.print_exc(file=sys.stderr)
            else:
                passed += 1
                print("ok %s" % name, flush=True)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
