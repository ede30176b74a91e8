// Close loop: opens a ServiceBusClient, does what the other scripts do (send, receive, settle, an
// empty receive, a management operation, an attach refused for a missing queue), closes it, and
// repeats, alternating plain AMQP and AMQP over WebSockets. Every close() must settle: one that does
// not within CLOSE_LIMIT_MS (harness.mjs) fails the run, as it would hang an application's shutdown.
// Run by closeloop_test.go.
//
// Input (environment):
//   SB_CONNECTION_STRING   connection string of the emulator's AMQP port.
//   SB_WS_CONNECTION_STRING, SB_WSS_ENDPOINT, SB_CA_FILE  as for websocket.mjs.
//   SB_QUEUE               prefix of the queues, one per worker: SB_QUEUE-0, SB_QUEUE-1, ...
//   SB_MISSING_QUEUE       a name no entity has.
//   JSTEST_ITERATIONS      how many clients to open and close (default 10).
//   JSTEST_WORKERS         how many of them run at once (default 1).
// Output: a "FAIL closeloop: <reason>" line per failed iteration, then "ok closeloop N" or
// "FAIL closeloop: N of M iterations failed"; exit status 1 on failure.
import { readFileSync } from "node:fs";
import { ServiceBusClient } from "@azure/service-bus";
import WebSocket from "ws";
import { closeClient, reason } from "./harness.mjs";

const iterations = Number(process.env.JSTEST_ITERATIONS ?? "10");
const retryOptions = { maxRetries: 0, retryDelayInMs: 100, timeoutInMs: 10_000 };

function newClient(i) {
  if (i % 2 === 0) return new ServiceBusClient(process.env.SB_CONNECTION_STRING, { retryOptions });
  return new ServiceBusClient(process.env.SB_WS_CONNECTION_STRING, {
    customEndpointAddress: process.env.SB_WSS_ENDPOINT,
    webSocketOptions: { webSocket: WebSocket, webSocketConstructorOptions: { ca: readFileSync(process.env.SB_CA_FILE) } },
    retryOptions,
  });
}

async function work(client, i, queue) {
  const sender = client.createSender(queue);
  await sender.sendMessages([{ body: `m-${i}-1` }, { body: `m-${i}-2` }]);
  const receiver = client.createReceiver(queue);
  const got = [];
  const deadline = Date.now() + 10_000;
  while (got.length < 2 && Date.now() < deadline) {
    got.push(...(await receiver.receiveMessages(2 - got.length, { maxWaitTimeInMs: 3_000 })));
  }
  if (got.length !== 2) throw new Error(`received ${got.length} of 2`);
  for (const m of got) await receiver.completeMessage(m);
  const again = await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 });
  if (again.length !== 0) throw new Error(`completed message ${again[0].body} came back`);
  const [seq] = await sender.scheduleMessages({ body: "later" }, new Date(Date.now() + 3_600_000));
  await sender.cancelScheduledMessages(seq);
  let refused;
  try {
    await client.createReceiver(process.env.SB_MISSING_QUEUE).receiveMessages(1, { maxWaitTimeInMs: 200 });
  } catch (e) {
    refused = e;
  }
  if (refused?.code !== "MessagingEntityNotFound") throw new Error(`receiving from a missing queue: ${refused ?? "no error"}`);
}

const workers = Number(process.env.JSTEST_WORKERS ?? "1");
let failures = 0;
let next = 0;

async function worker(w) {
  const queue = `${process.env.SB_QUEUE}-${w}`;
  for (let i = next++; i < iterations; i = next++) {
    const client = newClient(i);
    try {
      await work(client, i, queue);
    } catch (e) {
      failures++;
      console.log(`FAIL closeloop: iteration ${i}: ${reason(e)}`);
    }
    try {
      await closeClient(client);
    } catch (e) {
      failures++;
      console.log(`FAIL closeloop: iteration ${i} (${i % 2 === 0 ? "amqp" : "websocket"}): ${reason(e)}`);
    }
  }
}

await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
console.log(failures === 0 ? `ok closeloop ${iterations}` : `FAIL closeloop: ${failures} of ${iterations} iterations failed`);
process.exit(failures === 0 ? 0 : 1);
