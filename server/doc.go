// Package server is the Helix HTTP API: the AgentServer of DESIGN §5,
// served by "helix serve".
//
// The AgentServer itself (routes, authentication, ownership checks, rate
// limits, streams) is still to come. This package currently holds the
// pieces every handler shares.
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
