// Package server is the Helix HTTP API: the AgentServer of DESIGN §5,
// served by "helix serve" and mountable in any mux.
//
//	srv, err := server.New(server.Options{Runtime: rt, Authenticator: keys})
//	…
//	http.ListenAndServe(addr, srv)
//
// # Routes
//
//	POST /start               {agentType, sessionId?, message, state?, metadata?} → {sessionId, streamId, runId}
//	POST /resume              {sessionId, message?}                             → {sessionId, streamId, runId}
//	POST /interrupt, /abort   {sessionId, reason?}                              → 202 {sessionId, status}
//	POST /submit-tool-result  {sessionId, toolCallId, kind, approved?, reason?, result?, error?}
//	                                                                            → {sessionId, resumed, runId?, streamId?}
//	POST /retry               {sessionId}                                       → {sessionId, streamId, runId}
//	POST /stream-token        {sessionId}                                       → {token, expiresAt}
//	GET  /sse?sessionId=&after=   (or Last-Event-ID)                            → SSE chunk stream
//	GET  /ws?sessionId=&after=                                                  → WebSocket chunk stream
//	GET  /status?sessionId=, /messages?sessionId=&offset=&limit=,
//	     /sessions?agentType=&status=&offset=&limit=, /checkpoints?sessionId=
//	GET  /healthz, /readyz (no authentication), /metrics (Prometheus)
//
// Every route but /healthz and /readyz authenticates the caller with
// Options.Authenticator (see package auth); streams also take a stream
// token in ?token=. Sessions belong to the principal that created them;
// another principal's session is 404 Not found, exactly like an unknown
// one. Requests are rate-limited per principal and per client IP.
//
// # Streams
//
// GET /sse frames chunks as in package sse and ends with an "end" event
// carrying the run's status when the run ends or suspends. GET /ws sends the
// same chunk JSON, one text message each, and closes with 1000 and the
// run's status as the reason. Both resume after a sequence (Last-Event-ID
// or ?after=) with no gap and no duplicate; without one they start at the
// current run's first chunk. [Server.Shutdown] ends open streams with a
// reconnect hint (SSE "retry:", WebSocket 1012) instead of an end event.
//
// # Errors
//
// Handlers return errors; one table in errors.go maps them, with
// errors.Is, to a status and one fixed body such as
// 404 {"error":"Not found"}. The table knows this package's sentinels
// ([ErrBadRequest], [ErrNotFound], …) and the helix, store and auth
// sentinels that have a meaning for clients. Anything else is
// 500 {"error":"Internal server error"}. The full error goes to the server
// log with the request id ([RequestID]), never to the client.
//
// # Request bodies
//
// Request bodies are JSON objects decoded strictly: the Content-Type must
// be application/json (optionally with charset=utf-8), the body is limited
// to [DefaultMaxBodyBytes] unless configured otherwise, and unknown
// fields, wrong types, trailing data, an empty body and a top level other
// than an object are all rejected with 400 {"error":"Invalid request body"};
// an oversized body is 413 {"error":"Request body too large"}.
// Pagination parameters (offset ≥ 0, default 0; 1 ≤ limit ≤ 1000,
// default 50) are validated the same way.
package server
