// Package funchost is a local stand-in for the Azure Functions host ("func start")
// for custom-handler apps.
//
// It reads an app folder (host.json, <Function>/function.json, local.settings.json),
// supervises the handler process with the environment the real host gives it, and
// drives it over the custom-handler HTTP protocol. The protocol as we implement it
// is written down in docs/functions-protocol.md at the repository root; comments
// cite its sections as "(functions-protocol 2.3)". The package imports nothing
// from the app it runs.
//
// # What it does
//
//   - Settings: process environment, then local.settings.json Values (a non-empty
//     environment variable wins, as in Core Tools), then Config.Settings (win over
//     both). They become the handler's environment and resolve %Setting% in binding
//     properties. AzureWebJobs.<Function>.Disabled (true/1) disables a function.
//   - Handler: Config.Instances processes on free loopback ports with
//     FUNCTIONS_CUSTOMHANDLER_PORT, FUNCTIONS_HTTPWORKER_PORT, the worker id
//     variables and FUNCTIONS_APP_ROOT_PATH; GET / readiness polled every 25 ms
//     (30 s); output streamed line by line as "[app#instance] line"; restarted when
//     it exits; after 3 failures (exits, failed readiness, or restarts after
//     functionTimeout) within Config.RestartWindow the host gives up (Host.Done,
//     Host.Err), as the real host stops the app. customHandler.port fixes the port.
//   - Invocations: POST /<Function> with {Data, Metadata} (payload.go holds every
//     encoding rule), responses checked as the real host does (response.go). An
//     empty or null 2xx body fails at once instead of hanging until functionTimeout.
//     functionTimeout fails the invocation (HTTP 500) and restarts the instance.
//   - Triggers: httpTrigger (payload, forwarding and proxying modes; ASP.NET route
//     templates; a method mismatch is a 404 like the real host), timerTrigger
//     (NCRONTAB with seconds in local time, TimeSpan, runOnStartup),
//     rabbitMQTrigger (amqp091-go) and serviceBusTrigger (azservicebus; single
//     messages, batches with cardinality many, sessions with isSessionsEnabled).
//     Routes match case-insensitively and ignore one trailing slash.
//   - Start-up checks: a broken host.json or function.json of an enabled function
//     (unknown binding type, missing connection setting, bad schedule or route,
//     route conflict, ...) makes New fail with a *ConfigError naming file and field.
//   - Output bindings rabbitMQ and serviceBus, with the host's value conversions.
//   - POST /admin/functions/{name} {"input": "…"} runs a non-HTTP function (202);
//     GET /admin/host/status reports the host's state and every trigger
//     connection (200 healthy, 503 not).
//   - Safety (guard.go): only loopback Host values unless Config.AllowedHosts;
//     admin calls refuse an Origin header and non-JSON bodies; keys compared in
//     constant time; request bodies read whole under Config.BodyReadTimeout (408)
//     before an invocation takes a handler slot; every server timeout set.
//   - Config.EnforceAuth checks authLevel keys from the settings MasterKeySetting,
//     HostKeySetting and FunctionKeySettingPrefix+<Function>, given in the
//     x-functions-key header or the code query parameter.
package funchost
