// Administration script: drives the emulator's ATOM management API with the JavaScript SDK's
// ServiceBusAdministrationClient (and ServiceBusClient to put messages in), a client independent of
// the Go SDK's admin package.
//
// Input (environment):
//   SB_ADMIN_CONNECTION_STRING  connection string whose Endpoint is the emulator's HTTP address.
//   SB_CONNECTION_STRING        connection string of the emulator's AMQP port.
//   JSTEST_PREFIX               prefix of every entity name the script creates (unique per run).
//   JSTEST_CASES                comma-separated case names to run.
// Output: one line per case ("ok <case>", "FAIL <case>: <reason>"), then
// "N passed, N failed, N skipped". Exit status 1 when a case failed, 2 on bad input.
//
// The SDK always addresses https://<Endpoint host:port>/...; plainHttp below is the pipeline policy
// that sends those requests over plain HTTP instead (documented in the README).
import { ServiceBusAdministrationClient, ServiceBusClient } from "@azure/service-bus";
import { CaseError, check, closeClient, eq, reason, runAll, withTimeout } from "./harness.mjs";

const CASE_TIMEOUT_MS = 30_000;

// plainHttp rewrites the SDK's https URLs to http, which the emulator's HTTP port serves.
const plainHttp = {
  name: "emulatorPlainHttp",
  async sendRequest(request, next) {
    request.url = request.url.replace(/^https:/, "http:");
    request.allowInsecureConnection = true;
    return next(request);
  },
};

// The constructor ignores additionalPolicies (it builds its own pipeline), so the policy is added to
// the client's pipeline afterwards.
function adminClient(cs = process.env.SB_ADMIN_CONNECTION_STRING) {
  const ac = new ServiceBusAdministrationClient(cs, { retryOptions: { maxRetries: 0 } });
  ac.pipeline.addPolicy(plainHttp);
  return ac;
}

// expectError runs fn and checks the RestError it must throw.
async function expectError(fn, statusCode, code, what) {
  try {
    await fn();
  } catch (e) {
    check(e.statusCode === statusCode, `${what}: statusCode ${e.statusCode} (${e.code}: ${e.message}), want ${statusCode}`);
    if (code) check(e.code === code, `${what}: code ${e.code}, want ${code}`);
    return e;
  }
  throw new CaseError(`${what}: no error, want ${statusCode}`);
}

async function collect(iter) {
  const out = [];
  for await (const x of iter) out.push(x);
  return out;
}

const prefix = process.env.JSTEST_PREFIX ?? "js-admin";

// step records where each case is, so a timeout says what hung.
const steps = {};
function step(name, what) {
  steps[name] = what;
}

const cases = [
  {
    name: "admin-queue",
    async run(ac) {
      const q = `${prefix}-queue`;
      const created = await ac.createQueue(q, {
        lockDuration: "PT30S",
        maxDeliveryCount: 7,
        maxSizeInMegabytes: 2048,
        defaultMessageTimeToLive: "P2D",
        autoDeleteOnIdle: "PT1H",
        userMetadata: "owner=orders",
        deadLetteringOnMessageExpiration: true,
      });
      eq(created.name, q, "created name");
      const got = await ac.getQueue(q);
      eq(
        [got.lockDuration, got.maxDeliveryCount, got.maxSizeInMegabytes, got.defaultMessageTimeToLive, got.autoDeleteOnIdle,
          got.userMetadata, got.deadLetteringOnMessageExpiration, got.status, got.requiresSession, got.enablePartitioning],
        ["PT30S", 7, 2048, "P2D", "PT1H", "owner=orders", true, "Active", false, false],
        "queue properties",
      );
      got.lockDuration = "PT1M";
      got.maxDeliveryCount = 3;
      got.status = "ReceiveDisabled";
      await ac.updateQueue(got);
      const updated = await ac.getQueue(q);
      eq([updated.lockDuration, updated.maxDeliveryCount, updated.status], ["PT1M", 3, "ReceiveDisabled"], "updated queue");
      // ReceiveDisabled is enforced on the data plane.
      const client = new ServiceBusClient(process.env.SB_CONNECTION_STRING, { retryOptions: { maxRetries: 0, timeoutInMs: 5_000 } });
      try {
        let refused = false;
        try {
          await client.createReceiver(q).receiveMessages(1, { maxWaitTimeInMs: 1_000 });
        } catch (e) {
          refused = /disabled/i.test(e.message);
          if (!refused) throw new CaseError(`receiving from a ReceiveDisabled queue: ${e.message}, want a "disabled" refusal`);
        }
        check(refused, "receiving from a ReceiveDisabled queue succeeded");
      } finally {
        await closeClient(client);
      }
      check(await ac.queueExists(q), "queueExists after create");

      await expectError(() => ac.createQueue(q), 409, "MessageEntityAlreadyExistsError", "second createQueue");
      const bad = await expectError(() => ac.createQueue(`${q}-bad`, { lockDuration: "PT10M" }), 400, undefined, "lockDuration PT10M");
      check(bad.message.includes("LockDuration"), `the 400 does not name LockDuration: ${bad.message}`);

      for (const s of ["a", "b", "c"]) await ac.createQueue(`${q}-${s}`);
      const names = [];
      let pages = 0;
      for await (const page of ac.listQueues().byPage({ maxPageSize: 2 })) {
        pages++;
        for (const p of page) if (p.name.startsWith(q)) names.push(p.name);
      }
      eq(names, [q, `${q}-a`, `${q}-b`, `${q}-c`], "listed queues");
      check(pages >= 2, `listed in ${pages} page(s), want at least 2`);

      await ac.deleteQueue(q);
      check(!(await ac.queueExists(q)), "queueExists after delete");
      await expectError(() => ac.getQueue(q), 200, "MessageEntityNotFoundError", "getQueue after delete");
      await expectError(() => ac.deleteQueue(q), 404, "MessageEntityNotFoundError", "second deleteQueue");
    },
  },
  {
    name: "admin-topic-subscription-rule",
    async run(ac) {
      const t = `${prefix}-topic`;
      await ac.createTopic(t, { defaultMessageTimeToLive: "PT2H", maxSizeInMegabytes: 1024 });
      const topic = await ac.getTopic(t);
      eq([topic.defaultMessageTimeToLive, topic.maxSizeInMegabytes, topic.status], ["PT2H", 1024, "Active"], "topic properties");
      topic.defaultMessageTimeToLive = "PT3H";
      topic.userMetadata = "events";
      await ac.updateTopic(topic);
      const ut = await ac.getTopic(t);
      eq([ut.defaultMessageTimeToLive, ut.userMetadata], ["PT3H", "events"], "updated topic");

      await ac.createSubscription(t, "red", {
        lockDuration: "PT45S",
        maxDeliveryCount: 4,
        defaultRuleOptions: { name: "only-red", filter: { applicationProperties: { color: "red" } } },
      });
      const sub = await ac.getSubscription(t, "red");
      eq([sub.subscriptionName, sub.topicName, sub.lockDuration, sub.maxDeliveryCount], ["red", t, "PT45S", 4], "subscription");
      sub.maxDeliveryCount = 9;
      await ac.updateSubscription(sub);
      eq((await ac.getSubscription(t, "red")).maxDeliveryCount, 9, "updated maxDeliveryCount");

      const rule = await ac.getRule(t, "red", "only-red");
      eq(rule.filter.applicationProperties, { color: "red" }, "default rule filter");
      await ac.createRule(t, "red", "big", { sqlExpression: "size > 10" }, { sqlExpression: "SET big = TRUE" });
      await expectError(() => ac.createRule(t, "red", "big", { sqlExpression: "1=1" }), 409, "MessageEntityAlreadyExistsError", "duplicate rule");
      await expectError(() => ac.createRule(t, "red", "broken", { sqlExpression: "size >" }), 400, undefined, "bad SQL filter");
      const big = await ac.getRule(t, "red", "big");
      eq([big.filter.sqlExpression, big.action.sqlExpression], ["size > 10", "SET big = TRUE"], "rule big");
      big.filter = { sqlExpression: "size > 20" };
      big.action = {};
      await ac.updateRule(t, "red", big);
      const ub = await ac.getRule(t, "red", "big");
      eq([ub.filter.sqlExpression, ub.action.sqlExpression], ["size > 20", undefined], "updated rule big");
      await ac.createRule(t, "red", "param", { sqlExpression: "size > @min AND color = @c", sqlParameters: { "@min": 10, "@c": "red" } });
      const param = await ac.getRule(t, "red", "param");
      eq(param.filter.sqlParameters, { "@min": 10, "@c": "red" }, "SQL parameters read back");
      await ac.deleteRule(t, "red", "param");
      eq((await collect(ac.listRules(t, "red"))).map((r) => r.name), ["only-red", "big"], "rules");
      check(await ac.ruleExists(t, "red", "big"), "ruleExists");
      await ac.deleteRule(t, "red", "only-red");
      await expectError(() => ac.deleteRule(t, "red", "only-red"), 404, "MessageEntityNotFoundError", "second deleteRule");

      eq((await collect(ac.listSubscriptions(t))).map((s) => s.subscriptionName), ["red"], "subscriptions");
      eq((await collect(ac.listTopics())).map((x) => x.name).filter((n) => n.startsWith(prefix)), [t], "topics");
      await ac.deleteSubscription(t, "red");
      check(!(await ac.subscriptionExists(t, "red")), "subscriptionExists after delete");
      await ac.deleteTopic(t);
      check(!(await ac.topicExists(t)), "topicExists after delete");
      await expectError(() => ac.createSubscription(t, "late"), 404, "MessageEntityNotFoundError", "subscription of a deleted topic");
    },
  },
  {
    name: "admin-runtime-counts",
    async run(ac) {
      const q = `${prefix}-counts`;
      await ac.createQueue(q);
      const client = new ServiceBusClient(process.env.SB_CONNECTION_STRING, { retryOptions: { maxRetries: 1, timeoutInMs: 15_000 } });
      try {
        const sender = client.createSender(q);
        const sent = 10, completed = 3, deadLettered = 2, deferred = 1, scheduled = 4;
        step("admin-runtime-counts", "sending");
        for (let i = 0; i < sent; i++) await sender.sendMessages({ body: "0123456789" });
        step("admin-runtime-counts", "scheduling");
        for (let i = 0; i < scheduled; i++) await sender.scheduleMessages({ body: "later" }, new Date(Date.now() + 3_600_000));
        step("admin-runtime-counts", "receiving");
        const receiver = client.createReceiver(q);
        const got = [];
        const deadline = Date.now() + 10_000;
        while (got.length < completed + deadLettered + deferred && Date.now() < deadline) {
          got.push(...(await receiver.receiveMessages(completed + deadLettered + deferred - got.length, { maxWaitTimeInMs: 2_000 })));
        }
        eq(got.length, completed + deadLettered + deferred, "received");
        step("admin-runtime-counts", "settling");
        for (const [i, m] of got.entries()) {
          if (i < completed) await receiver.completeMessage(m);
          else if (i < completed + deadLettered) await receiver.deadLetterMessage(m);
          else await receiver.deferMessage(m);
        }
        step("admin-runtime-counts", "reading queue counts");
        const rt = await ac.getQueueRuntimeProperties(q);
        const active = sent - completed - deadLettered;
        eq(
          [rt.name, rt.activeMessageCount, rt.deadLetterMessageCount, rt.scheduledMessageCount, rt.transferMessageCount,
            rt.transferDeadLetterMessageCount, rt.totalMessageCount],
          [q, active, deadLettered, scheduled, 0, 0, active + deadLettered + scheduled],
          "queue runtime properties",
        );
        check(rt.sizeInBytes >= (sent - completed) * 10, `sizeInBytes ${rt.sizeInBytes}`);
        check(rt.createdAt instanceof Date && !isNaN(rt.createdAt) && rt.accessedAt >= rt.createdAt, `timestamps ${rt.createdAt} ${rt.accessedAt}`);
        const listed = (await collect(ac.listQueuesRuntimeProperties())).find((x) => x.name === q);
        eq(listed?.activeMessageCount, active, "listed runtime active count");

        step("admin-runtime-counts", "topic");
        const t = `${prefix}-counts-topic`;
        await ac.createTopic(t);
        await ac.createSubscription(t, "all");
        const ts = client.createSender(t);
        for (let i = 0; i < 3; i++) await ts.sendMessages({ body: "x" });
        await ts.scheduleMessages({ body: "later" }, new Date(Date.now() + 3_600_000));
        const srt = await ac.getSubscriptionRuntimeProperties(t, "all");
        eq([srt.activeMessageCount, srt.totalMessageCount], [3, 3], "subscription runtime properties");
        const trt = await ac.getTopicRuntimeProperties(t);
        eq([trt.subscriptionCount, trt.scheduledMessageCount], [1, 1], "topic runtime properties");
      } finally {
        await closeClient(client);
      }
      const ns = await ac.getNamespaceProperties();
      eq([ns.name, ns.messagingSku], ["127.0.0.1", "Standard"], "namespace properties");
    },
  },
  {
    name: "admin-unauthorized",
    async run() {
      const wrong = process.env.SB_ADMIN_CONNECTION_STRING.replace(/SharedAccessKey=[^;]*/, "SharedAccessKey=wrong");
      await expectError(() => adminClient(wrong).createQueue(`${prefix}-denied`), 401, "UnauthorizedRequestError", "wrong key");
    },
  },
];

async function main() {
  if (!process.env.SB_ADMIN_CONNECTION_STRING || !process.env.SB_CONNECTION_STRING) {
    console.log("SB_ADMIN_CONNECTION_STRING and SB_CONNECTION_STRING must be set");
    return 2;
  }
  const wanted = (process.env.JSTEST_CASES ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((n) => !cases.some((c) => c.name === n));
  if (unknown.length > 0 || wanted.length === 0) {
    console.log(`JSTEST_CASES names no or unknown cases: ${unknown.join(", ")}`);
    return 2;
  }
  return runAll(cases.filter((c) => wanted.includes(c.name)), async (c) => {
    try {
      await withTimeout(c.run(adminClient()), CASE_TIMEOUT_MS, c.name, () => steps[c.name] ?? "start");
      return { status: "ok" };
    } catch (e) {
      return { status: "FAIL", reason: reason(e) };
    }
  });
}

process.exit(await main());
