// Package pytest proves the Service Bus emulator against a third client: the Python SDK
// azure-servicebus 7.8 on uamqp (Debian's python3-azure), which speaks only TLS, so it exercises
// the emulator's AMQPS listener, its WebSocket endpoint and its generated certificate.
//
// The test starts the emulator in-process with AMQPS and HTTPS on free ports and a certificate
// generated into a temporary directory, creates one queue per case and runs conformance.py twice:
// over AMQPS and over AMQP-over-WebSockets. The script trusts the emulator's CA through the SDK's
// connection_verify argument. The SDK's AMQP transport connects to port 5671 only; the script
// replaces that constant with the test's free port (users of the standalone emulator get 5671).
// Over WebSockets the SDK's custom_endpoint_address gives the port. Every case runs with the
// connection string's shared access key except token-credential, which uses a TokenCredential
// handing out unsigned JWTs (the emulator runs with AcceptUnverifiedJWT).
//
// Install the SDK once (CI does the same in .ci/run):
//
//	apt-get install -y python3-azure
//
// Without it the test skips and says so, except under CI=true, where it fails. SBEMULATOR_PYTHON
// names the interpreter; by default the first of python3 on PATH and /usr/bin/python3 that can
// import azure.servicebus.
package pytest
