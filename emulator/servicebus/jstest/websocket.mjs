// WebSocket script: drives the Service Bus emulator with the JavaScript SDK over AMQP-over-WebSockets
// (wss, the transport the SDKs offer for clients behind firewalls), run by websocket_test.go.
//
// Input (environment):
//   SB_CONNECTION_STRING  a connection string without UseDevelopmentEmulator (Endpoint=sb://localhost/).
//   SB_WSS_ENDPOINT       the emulator's HTTPS address (https://localhost:PORT), the SDK's customEndpointAddress.
//   SB_CA_FILE            the emulator's CA certificate (ca.crt), trusted through the ws package's "ca" option.
//   SB_QUEUE              a queue of its own.
// Output: "ok websocket" or "FAIL websocket: <reason>" (also when client.close() does not settle);
// exit status 1 on failure.
import { readFileSync } from "node:fs";
import { ServiceBusClient } from "@azure/service-bus";
import WebSocket from "ws";
import { closeClient, reason } from "./harness.mjs";

const queue = process.env.SB_QUEUE;
const client = new ServiceBusClient(process.env.SB_CONNECTION_STRING, {
  customEndpointAddress: process.env.SB_WSS_ENDPOINT,
  webSocketOptions: { webSocket: WebSocket, webSocketConstructorOptions: { ca: readFileSync(process.env.SB_CA_FILE) } },
  retryOptions: { maxRetries: 1, retryDelayInMs: 200, timeoutInMs: 15_000 },
});

try {
  const sender = client.createSender(queue);
  await sender.sendMessages([{ body: "ws-1" }, { body: "ws-2", applicationProperties: { n: 2 } }]);
  const receiver = client.createReceiver(queue);
  const got = [];
  const deadline = Date.now() + 10_000;
  while (got.length < 2 && Date.now() < deadline) {
    got.push(...(await receiver.receiveMessages(2 - got.length, { maxWaitTimeInMs: 3_000 })));
  }
  const bodies = got.map((m) => m.body).sort();
  if (JSON.stringify(bodies) !== '["ws-1","ws-2"]') throw new Error(`received ${JSON.stringify(bodies)}`);
  for (const m of got) await receiver.completeMessage(m);
  const again = await receiver.receiveMessages(1, { maxWaitTimeInMs: 1_000 });
  if (again.length !== 0) throw new Error(`completed message ${again[0].body} came back`);
  console.log("ok websocket");
} catch (err) {
  console.log(`FAIL websocket: ${String(err?.stack ?? err).replaceAll("\n", " ")}`);
  process.exitCode = 1;
}
// A close that never settles would hang an application's shutdown: it fails the script.
try {
  await closeClient(client);
} catch (e) {
  console.log(`FAIL websocket: ${reason(e)}`);
  process.exitCode = 1;
}
