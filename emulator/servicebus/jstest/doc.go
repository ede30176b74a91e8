// Package jstest proves the Service Bus emulator against a second, independent client: the
// JavaScript SDK @azure/service-bus (pinned in package-lock.json), run with the machine's Node.js.
//
// The test starts the emulator in-process on 127.0.0.1:0, creates one set of entities per case and
// runs conformance.mjs with the connection string (SB_CONNECTION_STRING), the entity names
// (JSTEST_ENTITIES, JSON) and the optional features the emulator supports (EMULATOR_FEATURES,
// e.g. "sessions,sql"). The script prints "ok <case>", "FAIL <case>: <reason>" or
// "skip <case>: <reason>" per case and a summary line; each case becomes a subtest.
//
// The JavaScript SDK honours the port in the connection string's Endpoint (@azure/core-amqp 4.x
// uses 5672 only when the endpoint has no port), so no fixed port is needed.
//
// TestJSAdmin runs admin.mjs the same way against the emulator's HTTP port: the SDK's
// ServiceBusAdministrationClient (over plain HTTP through a pipeline policy, see the README)
// creates, lists, updates and deletes every entity kind and reads runtime counts. harness.mjs holds
// what the scripts share (assertions, timeouts, bounded closes, the output protocol).
//
// websocket_test.go runs websocket.mjs, the SDK over AMQP-over-WebSockets (webSocketOptions with
// the ws package, customEndpointAddress for the port) against the emulator's HTTPS listener,
// trusting its generated CA.
//
// closeloop_test.go runs closeloop.mjs: clients over plain AMQP and WebSockets that each do a
// little of everything and close. Every script fails a client.close() that does not settle within
// 5 s (closeClient in harness.mjs): the SDK waits for the emulator's answer to each detach, end
// and close, and a missing one would hang an application's shutdown. JSTEST_ITERATIONS and
// JSTEST_WORKERS make the loop longer and more concurrent:
//
//	JSTEST_ITERATIONS=200 JSTEST_WORKERS=2 go test ./emulator/servicebus/jstest -run TestJSCloseSettles
//
// Install the SDK once (CI does the same) before running the test:
//
//	npm ci --prefix emulator/servicebus/jstest --no-audit --no-fund
//
// Without node on PATH or without node_modules the test skips and says so.
package jstest
