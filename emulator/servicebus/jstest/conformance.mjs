// Conformance script: drives the Service Bus emulator with the JavaScript SDK (@azure/service-bus),
// a client independent of the Go SDK, so wire behaviour the Go SDK happens not to need is caught too.
//
// Input (environment):
//   SB_CONNECTION_STRING  emulator connection string (UseDevelopmentEmulator=true).
//   JSTEST_ENTITIES       JSON object: case name -> the entity names that case may use; every case
//                         has its own entities, so cases run concurrently and never see each other's
//                         messages. Only the cases named here run.
//   EMULATOR_FEATURES     comma-separated optional features the emulator supports ("sessions", "sql");
//                         cases needing a missing feature are reported as "skip", never as passed.
// Output: one line per case, "ok <case>", "FAIL <case>: <reason>" or "skip <case>: <reason>", then
// "N passed, N failed, N skipped". Exit status 1 when a case failed, 2 on bad input.
import { ServiceBusClient, isServiceBusError } from "@azure/service-bus";
import { CaseError, check, closeClient, eq, reason, runAll, withTimeout } from "./harness.mjs";

const CASE_TIMEOUT_MS = 30_000;
// Short retries: a wrong answer from the emulator should fail fast, not after the SDK's 30 s backoff.
const clientOptions = { retryOptions: { maxRetries: 1, retryDelayInMs: 200, timeoutInMs: 15_000 } };

function uid(prefix) {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}

// receiveN receives until n messages arrived or the deadline passed; returns what it got.
async function receiveN(receiver, n, timeoutMs = 10_000) {
  const out = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const msgs = await receiver.receiveMessages(n - out.length, { maxWaitTimeInMs: Math.min(left, 3_000) });
    out.push(...msgs);
  }
  return out;
}

async function receiveExactly(receiver, n, what) {
  const got = await receiveN(receiver, n);
  check(got.length === n, `${what}: received ${got.length} message(s) within 10 s, want ${n}`);
  return got;
}

// expectNothing asserts that nothing arrives within waitMs.
async function expectNothing(receiver, what, waitMs = 1_000) {
  const got = await receiver.receiveMessages(1, { maxWaitTimeInMs: waitMs });
  check(got.length === 0, `${what}: unexpected message ${JSON.stringify(got[0]?.body)} (id ${got[0]?.messageId})`);
}

function badKeyConnectionString(cs) {
  check(/SharedAccessKey=[^;]*/.test(cs), "connection string has no SharedAccessKey");
  return cs.replace(/SharedAccessKey=[^;]*/, "SharedAccessKey=not-the-key");
}

// Each case gets (client, entities) and throws on failure. feature names an EMULATOR_FEATURES entry.
const cases = [
  {
    name: "send-receive-complete",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      const id = uid("m");
      await sender.sendMessages({
        body: { hello: "world", n: 1 },
        messageId: id,
        subject: "greeting",
        correlationId: "corr-1",
        contentType: "application/json",
      });
      const receiver = client.createReceiver(queue);
      const [m] = await receiveExactly(receiver, 1, "receive");
      eq(m.body, { hello: "world", n: 1 }, "body");
      eq(m.messageId, id, "messageId");
      eq(m.subject, "greeting", "subject");
      eq(m.correlationId, "corr-1", "correlationId");
      eq(m.contentType, "application/json", "contentType");
      check(m.lockToken, "no lockToken on a peekLock message");
      check(m.sequenceNumber !== undefined, "no sequenceNumber");
      check(m.enqueuedTimeUtc instanceof Date, "no enqueuedTimeUtc");
      check(m.lockedUntilUtc instanceof Date && m.lockedUntilUtc > new Date(), `lockedUntilUtc ${m.lockedUntilUtc} not in the future`);
      await receiver.completeMessage(m);
      await expectNothing(receiver, "after complete");
    },
  },
  {
    name: "send-batch",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      const batch = await sender.createMessageBatch();
      check(batch.maxSizeInBytes > 0, `batch maxSizeInBytes ${batch.maxSizeInBytes}`);
      for (let i = 0; i < 5; i++) {
        check(batch.tryAddMessage({ body: `b${i}`, messageId: `b${i}` }), `tryAddMessage ${i} refused`);
      }
      await sender.sendMessages(batch);
      // An array is sent as one batch transfer too.
      await sender.sendMessages([0, 1, 2].map((i) => ({ body: `a${i}`, messageId: `a${i}` })));
      const receiver = client.createReceiver(queue, { receiveMode: "receiveAndDelete" });
      const got = await receiveExactly(receiver, 8, "receive batch");
      eq(got.map((m) => m.body), ["b0", "b1", "b2", "b3", "b4", "a0", "a1", "a2"], "bodies in order");
      const seqs = got.map((m) => m.sequenceNumber.toNumber());
      check(seqs.every((s, i) => i === 0 || s > seqs[i - 1]), `sequence numbers not increasing: ${seqs}`);
    },
  },
  {
    name: "abandon-redelivery",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages({ body: "again", messageId: "ab-1" });
      const receiver = client.createReceiver(queue);
      const [first] = await receiveExactly(receiver, 1, "first receive");
      // The JS SDK reports the AMQP header's delivery-count as is: 0 on the first delivery
      // (the Go SDK adds one and shows 1).
      eq(first.deliveryCount, 0, "first deliveryCount");
      await receiver.abandonMessage(first);
      const [second] = await receiveExactly(receiver, 1, "receive after abandon");
      eq(second.messageId, "ab-1", "redelivered messageId");
      eq(second.deliveryCount, 1, "deliveryCount after one abandon");
      await receiver.completeMessage(second);
      await expectNothing(receiver, "after complete");
    },
  },
  {
    name: "dead-letter",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages({ body: "poison", messageId: "dl-1", applicationProperties: { origin: "js" } });
      const receiver = client.createReceiver(queue);
      const [m] = await receiveExactly(receiver, 1, "receive");
      await receiver.deadLetterMessage(m, { deadLetterReason: "BadOrder", deadLetterErrorDescription: "total is negative" });
      await expectNothing(receiver, "main queue after dead-letter");
      const dlq = client.createReceiver(queue, { subQueueType: "deadLetter" });
      const [d] = await receiveExactly(dlq, 1, "receive from DLQ");
      eq(d.messageId, "dl-1", "DLQ messageId");
      eq(d.body, "poison", "DLQ body");
      eq(d.deadLetterReason, "BadOrder", "deadLetterReason");
      eq(d.deadLetterErrorDescription, "total is negative", "deadLetterErrorDescription");
      eq(d.applicationProperties?.origin, "js", "original application property kept");
      await dlq.completeMessage(d);
      await expectNothing(dlq, "DLQ after complete");
    },
  },
  {
    name: "renew-message-lock",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages({ body: "long job", messageId: "rl-1" });
      const receiver = client.createReceiver(queue, { maxAutoLockRenewalDurationInMs: 0 });
      const [m] = await receiveExactly(receiver, 1, "receive");
      const before = m.lockedUntilUtc.getTime();
      const until = await receiver.renewMessageLock(m);
      check(until instanceof Date && until.getTime() >= before,
        `renewMessageLock returned ${until}, lock was until ${new Date(before).toISOString()}`);
      await receiver.completeMessage(m);
      await expectNothing(receiver, "after complete");
    },
  },
  {
    name: "defer",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages({ body: "later please", messageId: "df-1" });
      const receiver = client.createReceiver(queue);
      const [m] = await receiveExactly(receiver, 1, "receive");
      const seq = m.sequenceNumber;
      await receiver.deferMessage(m);
      await expectNothing(receiver, "a deferred message is not received normally");
      const [d] = await receiver.receiveDeferredMessages(seq);
      check(d, `receiveDeferredMessages(${seq}) returned nothing`);
      eq(d.messageId, "df-1", "deferred messageId");
      eq(d.state, "deferred", "deferred message state");
      // Two independent checks; both are reported when both fail.
      const problems = [];
      // Service Bus counts the deferral: the JS SDK shows 0 on the first receive and 1 on the
      // deferred receive (2 after abandoning or deferring it again).
      if (d.deliveryCount !== 1) problems.push(`deferred deliveryCount: got ${d.deliveryCount}, want 1`);
      // The JS SDK takes the lock token of a deferred message from the response map's
      // "lock-token" entry; without it the message counts as peeked and cannot be settled.
      if (!d.lockToken) {
        problems.push("deferred message has no lockToken (receive-by-sequence-number response lacks lock-token)");
      } else {
        await receiver.completeMessage(d);
      }
      check(problems.length === 0, problems.join("; "));
      const left = await receiver.peekMessages(10, { fromSequenceNumber: seq });
      eq(left.length, 0, "messages left after completing the deferred message");
    },
  },
  {
    name: "receive-and-delete",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages([{ body: "r1" }, { body: "r2" }]);
      const receiver = client.createReceiver(queue, { receiveMode: "receiveAndDelete" });
      const got = await receiveExactly(receiver, 2, "receive");
      eq(got.map((m) => m.body), ["r1", "r2"], "bodies");
      const peeked = await receiver.peekMessages(10);
      eq(peeked.length, 0, "messages left after receiveAndDelete");
    },
  },
  {
    name: "peek",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages([{ body: "p0" }, { body: "p1" }, { body: "p2" }]);
      const receiver = client.createReceiver(queue);
      const peeked = await receiver.peekMessages(10);
      eq(peeked.map((m) => m.body), ["p0", "p1", "p2"], "peeked bodies");
      const from = peeked[1].sequenceNumber;
      const again = await receiver.peekMessages(10, { fromSequenceNumber: from });
      eq(again.map((m) => m.body), ["p1", "p2"], "peek from the second sequence number");
      // Peeking neither locks nor removes: all three are still receivable.
      const got = await receiveExactly(receiver, 3, "receive after peek");
      eq(got.map((m) => m.deliveryCount), [0, 0, 0], "deliveryCount after peek");
      // Sent without messageId: Service Bus assigns one (the SDK's lock renewer needs it to settle).
      check(got.every((m) => typeof m.messageId === "string" && m.messageId !== ""),
        `service-assigned messageId missing: ${JSON.stringify(got.map((m) => m.messageId))}`);
      for (const m of got) await receiver.completeMessage(m);
    },
  },
  {
    name: "schedule-cancel",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      const soon = new Date(Date.now() + 2_000);
      const later = new Date(Date.now() + 3_600_000);
      const [soonSeq] = await sender.scheduleMessages({ body: "soon", messageId: "s-soon" }, soon);
      const [laterSeq] = await sender.scheduleMessages({ body: "later", messageId: "s-later" }, later);
      check(soonSeq !== undefined && laterSeq !== undefined, "scheduleMessages returned no sequence number");
      check(laterSeq.greaterThan(soonSeq), `sequence numbers ${soonSeq} then ${laterSeq}`);
      const receiver = client.createReceiver(queue);
      const peeked = await receiver.peekMessages(10);
      eq(peeked.map((m) => m.body), ["soon", "later"], "scheduled messages are peekable");
      eq(peeked.map((m) => m.state), ["scheduled", "scheduled"], "peeked state");
      await sender.cancelScheduledMessages(laterSeq);
      const [m] = await receiveExactly(receiver, 1, "receive the scheduled message");
      eq(m.body, "soon", "scheduled body");
      check(Date.now() >= soon.getTime() - 50, "scheduled message delivered before its time");
      check(m.scheduledEnqueueTimeUtc instanceof Date, "no scheduledEnqueueTimeUtc");
      eq(m.scheduledEnqueueTimeUtc.getTime(), soon.getTime(), "scheduledEnqueueTimeUtc");
      await receiver.completeMessage(m);
      const left = await receiver.peekMessages(10, { fromSequenceNumber: soonSeq });
      eq(left.map((x) => x.body), [], "messages left after cancel");
    },
  },
  {
    name: "topic-correlation-filter",
    async run(client, { topic, red, order1 }) {
      // red: correlation filter on application property color="red".
      // order1: correlation filter on correlationId "order-1".
      const sender = client.createSender(topic);
      await sender.sendMessages([
        { body: "m-red", messageId: "m-red", applicationProperties: { color: "red" } },
        { body: "m-order", messageId: "m-order", correlationId: "order-1", applicationProperties: { color: "blue" } },
        { body: "m-none", messageId: "m-none", applicationProperties: { color: "green" } },
      ]);
      const rr = client.createReceiver(topic, red, { receiveMode: "receiveAndDelete" });
      eq((await receiveExactly(rr, 1, red)).map((m) => m.body), ["m-red"], `subscription ${red}`);
      await expectNothing(rr, `subscription ${red}`);
      const ro = client.createReceiver(topic, order1, { receiveMode: "receiveAndDelete" });
      eq((await receiveExactly(ro, 1, order1)).map((m) => m.body), ["m-order"], `subscription ${order1}`);
      await expectNothing(ro, `subscription ${order1}`);
    },
  },
  {
    name: "application-properties",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      const when = new Date("2024-05-06T07:08:09.123Z");
      const props = {
        str: "text ü",
        empty: "",
        small: 7,
        int: 123456,
        neg: -42,
        big: 2 ** 40,
        dbl: 3.25,
        yes: true,
        no: false,
        when,
        nothing: null,
      };
      await sender.sendMessages({ body: "props", applicationProperties: props });
      const receiver = client.createReceiver(queue, { receiveMode: "receiveAndDelete" });
      const [m] = await receiveExactly(receiver, 1, "receive");
      const got = m.applicationProperties ?? {};
      // The SDK hands timestamps back as milliseconds since the epoch.
      const want = { ...props, when: when.getTime() };
      for (const [k, v] of Object.entries(want)) {
        check(k in got, `property ${k} missing (got ${JSON.stringify(got)})`);
        check(Object.is(got[k], v), `property ${k}: got ${JSON.stringify(got[k])} (${typeof got[k]}), want ${JSON.stringify(v)}`);
      }
    },
  },
  {
    name: "unauthorized",
    ownClient: true,
    async run(_client, { queue }) {
      const bad = new ServiceBusClient(badKeyConnectionString(process.env.SB_CONNECTION_STRING), {
        retryOptions: { maxRetries: 0, retryDelayInMs: 100, timeoutInMs: 15_000 },
      });
      try {
        const sender = bad.createSender(queue);
        let err;
        try {
          await sender.sendMessages({ body: "nope" });
        } catch (e) {
          err = e;
        }
        check(err, "send with a wrong key succeeded");
        check(isServiceBusError(err), `error is not a ServiceBusError: ${err}`);
        eq(err.code, "UnauthorizedAccess", `error code (message: ${err.message})`);
      } finally {
        await closeClient(bad);
      }
    },
  },
  {
    // A connection string with a Listen-only policy: sending is refused (amqp:unauthorized-access
    // on the attach), receiving works.
    name: "listen-only-policy",
    async run(client, { queue, keyName, key }) {
      await client.createSender(queue).sendMessages({ body: "for the listener" });
      const cs = process.env.SB_CONNECTION_STRING.replace(/SharedAccessKeyName=[^;]*/, `SharedAccessKeyName=${keyName}`)
        .replace(/SharedAccessKey=[^;]*/, `SharedAccessKey=${key}`);
      const listener = new ServiceBusClient(cs, { retryOptions: { maxRetries: 0, retryDelayInMs: 100, timeoutInMs: 15_000 } });
      try {
        let err;
        try {
          await listener.createSender(queue).sendMessages({ body: "nope" });
        } catch (e) {
          err = e;
        }
        check(err, "send with a Listen-only policy succeeded");
        eq(err.code, "UnauthorizedAccess", `send with a Listen-only policy: error code (message: ${err.message})`);
        const receiver = listener.createReceiver(queue);
        const got = await receiveExactly(receiver, 1, "receive with a Listen-only policy");
        eq(got.map((m) => m.body), ["for the listener"], "received");
        await receiver.completeMessage(got[0]);
        const peeked = await receiver.peekMessages(1);
        eq(peeked.length, 0, "peek after complete");
      } finally {
        await closeClient(listener);
      }
    },
  },
  {
    name: "entity-not-found",
    async run(client, { missing }) {
      const sender = client.createSender(missing);
      let err;
      try {
        await sender.sendMessages({ body: "nowhere" });
      } catch (e) {
        err = e;
      }
      check(err, `send to missing queue ${missing} succeeded`);
      check(isServiceBusError(err), `error is not a ServiceBusError: ${err}`);
      eq(err.code, "MessagingEntityNotFound", `send error code (message: ${err.message})`);
      const receiver = client.createReceiver(missing);
      err = undefined;
      try {
        await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
      } catch (e) {
        err = e;
      }
      check(err, `receive from missing queue ${missing} succeeded`);
      check(isServiceBusError(err), `receive error is not a ServiceBusError: ${err}`);
      eq(err.code, "MessagingEntityNotFound", `receive error code (message: ${err.message})`);
    },
  },
  {
    name: "topic-sql-filter",
    feature: "sql",
    async run(client, { topic, cheap, colors, tagged }) {
      // cheap: "price < 10 AND sys.Label = 'order'"; colors: "color IN ('blue','green') OR color IS NULL";
      // tagged: "region LIKE 'eu-%'" with action "SET tag = 'seen'".
      const sender = client.createSender(topic);
      await sender.sendMessages([
        { body: "cheap-order", subject: "order", applicationProperties: { price: 5, color: "red" } },
        { body: "dear-order", subject: "order", applicationProperties: { price: 50, color: "blue" } },
        { body: "cheap-note", subject: "note", applicationProperties: { price: 1.5, color: "green", region: "eu-west" } },
        { body: "no-color", subject: "order", applicationProperties: { price: 10, region: "us-east" } },
      ]);
      const take = async (sub, n) => {
        const r = client.createReceiver(topic, sub, { receiveMode: "receiveAndDelete" });
        const got = n > 0 ? await receiveExactly(r, n, `subscription ${sub}`) : [];
        await expectNothing(r, `subscription ${sub}`);
        return got;
      };
      eq((await take(cheap, 1)).map((m) => m.body), ["cheap-order"], `subscription ${cheap}`);
      eq((await take(colors, 3)).map((m) => m.body), ["dear-order", "cheap-note", "no-color"], `subscription ${colors}`);
      const t = await take(tagged, 1);
      eq(t.map((m) => m.body), ["cheap-note"], `subscription ${tagged}`);
      eq(t[0].applicationProperties?.tag, "seen", "property set by the rule action");
    },
  },
  {
    name: "session-accept-by-id",
    feature: "sessions",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages([
        { body: "a1", sessionId: "sa" },
        { body: "b1", sessionId: "sb" },
        { body: "a2", sessionId: "sa" },
        { body: "a3", sessionId: "sa" },
      ]);
      const receiver = await client.acceptSession(queue, "sa");
      eq(receiver.sessionId, "sa", "sessionId of the receiver");
      check(receiver.sessionLockedUntilUtc instanceof Date && receiver.sessionLockedUntilUtc > new Date(),
        `sessionLockedUntilUtc ${receiver.sessionLockedUntilUtc} not in the future`);
      const got = await receiveExactly(receiver, 3, "session sa");
      eq(got.map((m) => m.body), ["a1", "a2", "a3"], "session sa in order");
      eq(got.map((m) => m.sessionId), ["sa", "sa", "sa"], "message sessionId");
      for (const m of got) await receiver.completeMessage(m);
      await expectNothing(receiver, "session sa after complete");
      // A second receiver for a locked session is refused.
      let err;
      try {
        const dup = await client.acceptSession(queue, "sa");
        await dup.close();
      } catch (e) {
        err = e;
      }
      check(err, "a second acceptSession for a locked session succeeded");
      eq(err.code, "SessionCannotBeLocked", `second acceptSession error code (message: ${err.message})`);
      await receiver.close();
      const b = await client.acceptSession(queue, "sb");
      eq((await receiveExactly(b, 1, "session sb")).map((m) => m.body), ["b1"], "session sb");
      await b.close();
    },
  },
  {
    name: "session-accept-next",
    feature: "sessions",
    async run(client, { queue }) {
      const sender = client.createSender(queue);
      await sender.sendMessages([{ body: "n1", sessionId: "sn" }, { body: "n2", sessionId: "sn" }]);
      const receiver = await client.acceptNextSession(queue);
      eq(receiver.sessionId, "sn", "accepted session");
      const got = await receiveExactly(receiver, 2, "session sn");
      eq(got.map((m) => m.body), ["n1", "n2"], "session sn in order");
      for (const m of got) await receiver.completeMessage(m);
      await receiver.close();
      // No session with messages left: accept-next fails with a timeout (the SDK sends its
      // operation timeout as the com.microsoft:timeout link property).
      const quick = new ServiceBusClient(process.env.SB_CONNECTION_STRING, {
        retryOptions: { maxRetries: 0, retryDelayInMs: 100, timeoutInMs: 3_000 },
      });
      try {
        let err;
        try {
          const r = await quick.acceptNextSession(queue);
          err = new CaseError(`acceptNextSession on an empty queue returned session ${JSON.stringify(r.sessionId)}`);
        } catch (e) {
          err = e;
        }
        if (err instanceof CaseError) throw err;
        eq(err.code, "ServiceTimeout", `acceptNextSession on an empty queue: error code (message: ${err.message})`);
      } finally {
        await closeClient(quick);
      }
    },
  },
  {
    name: "session-state",
    feature: "sessions",
    async run(client, { queue }) {
      // Accepting a session that has no messages yet succeeds on Service Bus.
      const receiver = await client.acceptSession(queue, "st");
      const initial = await receiver.getSessionState();
      check(initial == null, `initial session state ${JSON.stringify(initial)}, want none`);
      // The SDK sends JSON.stringify(state) as the binary and JSON-decodes what it gets back.
      await receiver.setSessionState({ step: 2 });
      eq(await receiver.getSessionState(), { step: 2 }, "session state after set");
      const before = receiver.sessionLockedUntilUtc.getTime();
      const renewed = await receiver.renewSessionLock();
      check(renewed instanceof Date && renewed.getTime() >= before,
        `renewSessionLock returned ${renewed}, lock was until ${new Date(before).toISOString()}`);
      // An empty binary clears the state: a later get returns none (null), not an empty binary.
      await receiver.setSessionState(Buffer.alloc(0));
      const cleared = await receiver.getSessionState();
      check(cleared == null, `session state after clearing: ${JSON.stringify(cleared)}, want none`);
      await receiver.close();
    },
  },
  {
    // ServiceBusRuleManager: add-rule, enumerate-rules and remove-rule over $management.
    name: "rule-manager",
    async run(client, { topic, subscription }) {
      const rm = client.createRuleManager(topic, subscription);
      const list = async () => {
        const out = [];
        for await (const r of rm.listRules()) out.push(r);
        return out;
      };
      let rules = await list();
      eq(rules.map((r) => r.name), ["$Default"], "initial rules");
      eq(rules[0].filter.sqlExpression, "1=1", "$Default filter");
      await rm.createRule("gold", { sqlExpression: "tier = 'gold' AND amount > 10" }, { sqlExpression: "SET sys.Label = 'vip'" });
      await rm.createRule("eu", { subject: "order", applicationProperties: { region: "eu" } });
      let err;
      try {
        await rm.createRule("eu", { sqlExpression: "1=1" });
      } catch (e) {
        err = e;
      }
      check(err, "createRule with an existing name succeeded");
      eq(err.code, "MessagingEntityAlreadyExists", `duplicate rule error code (message: ${err.message})`);
      await rm.deleteRule("$Default");
      rules = await list();
      eq(rules.map((r) => r.name), ["gold", "eu"], "rules after changes");
      eq(rules[0].filter.sqlExpression, "tier = 'gold' AND amount > 10", "gold filter");
      eq(rules[0].action.sqlExpression, "SET sys.Label = 'vip'", "gold action");
      eq(rules[1].filter.subject, "order", "eu correlation subject");
      eq(rules[1].filter.applicationProperties, { region: "eu" }, "eu correlation properties");
      eq(rules[1].action, {}, "eu action");
      const paged = [];
      for await (const page of rm.listRules().byPage({ maxPageSize: 1 })) paged.push(page.map((r) => r.name));
      eq(paged, [["gold"], ["eu"]], "pages of one rule");
      // The rules route what the subscription receives.
      const sender = client.createSender(topic);
      await sender.sendMessages([
        { body: "gold", applicationProperties: { tier: "gold", amount: 20 } },
        { body: "eu", subject: "order", applicationProperties: { region: "eu" } },
        { body: "none", subject: "order", applicationProperties: { region: "us", tier: "silver" } },
      ]);
      const receiver = client.createReceiver(topic, subscription, { receiveMode: "receiveAndDelete" });
      const got = await receiveExactly(receiver, 2, "subscription with rules");
      eq(got.map((m) => `${m.body}/${m.subject}`).sort(), ["eu/order", "gold/vip"], "routed messages");
      await expectNothing(receiver, "subscription with rules");
      err = undefined;
      try {
        await rm.deleteRule("$Default");
      } catch (e) {
        err = e;
      }
      check(err, "deleting a missing rule succeeded");
      eq(err.code, "MessagingEntityNotFound", `missing rule error code (message: ${err.message})`);
    },
  },
];

async function runCase(c, entities, features) {
  if (c.feature && !features.has(c.feature)) {
    return { status: "skip", reason: `emulator lacks feature "${c.feature}" (EMULATOR_FEATURES=${[...features].join(",")})` };
  }
  const client = c.ownClient ? undefined : new ServiceBusClient(process.env.SB_CONNECTION_STRING, clientOptions);
  let result = { status: "ok" };
  try {
    await withTimeout(c.run(client, entities), CASE_TIMEOUT_MS, c.name);
  } catch (e) {
    result = { status: "FAIL", reason: reason(e) };
  }
  try {
    if (client) await closeClient(client);
  } catch (e) {
    if (result.status === "ok") result = { status: "FAIL", reason: reason(e) };
  }
  return result;
}

async function main() {
  const cs = process.env.SB_CONNECTION_STRING;
  let all;
  try {
    all = JSON.parse(process.env.JSTEST_ENTITIES ?? "");
  } catch (e) {
    console.log(`bad JSTEST_ENTITIES: ${e.message}`);
    return 2;
  }
  if (!cs) {
    console.log("SB_CONNECTION_STRING is not set");
    return 2;
  }
  const unknown = Object.keys(all).filter((n) => !cases.some((c) => c.name === n));
  if (unknown.length > 0) {
    console.log(`JSTEST_ENTITIES names unknown cases: ${unknown.join(", ")}`);
    return 2;
  }
  const features = new Set((process.env.EMULATOR_FEATURES ?? "").split(",").map((s) => s.trim()).filter(Boolean));
  const selected = cases.filter((c) => c.name in all);
  return runAll(selected, (c) => runCase(c, all[c.name], features));
}

// Exit explicitly: a connection the emulator failed to close must not keep node alive.
process.exit(await main());
