// Package funchost is a local stand-in for the Azure Functions host ("func start")
// for custom-handler apps.
//
// It reads an app folder (host.json, <Function>/function.json, local.settings.json),
// supervises the handler process with the environment the real host gives it, and
// drives it over the custom-handler HTTP protocol: HTTP triggers (payload,
// forwarding and proxying modes), timer triggers and manual runs through
// POST /admin/functions/{name}. Queue triggers plug in through the Trigger
// interface.
//
// The package imports nothing from the app it runs: it works for any custom
// handler. Protocol behaviour follows shared/docs/functions-protocol.md; section
// numbers in comments (§2.3, …) refer to that note.
package funchost
