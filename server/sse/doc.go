// Package sse is the Server-Sent Events framing of Helix's chunk stream
// (DESIGN §4 "SSE framing"): a [Writer] that frames chunks, end events,
// heartbeats and reconnect hints onto an [http.ResponseWriter]; [ParseResume]
// for the resume point of GET /sse; and [Decode], a WHATWG-conformant parser
// used by tests and by the Go client.
//
// # Wire format
//
// Each chunk is one event whose id is the chunk's store sequence and whose
// data is the chunk's JSON on a single line:
//
//	id: 42
//	event: chunk
//	data: {"type":"text_delta",…,"sequence":42,"delta":"hi"}
//
// When the run ends or suspends the stream closes with an end event that
// carries no id, so a browser's Last-Event-ID keeps pointing at the last
// chunk:
//
//	event: end
//	data: {"status":"completed"}
//
// While the stream is idle a ": ping" comment is sent every 15 s. A
// "retry: <ms>" field tells clients how long to wait before reconnecting (the
// server sends it when shutting down). No data line ever contains a raw CR or
// LF: chunk JSON escapes them, and the Writer checks it.
//
// # Serving GET /sse
//
// Validate the request and look everything up before the first write, so
// failures are ordinary HTTP errors; then hand the stream to [Writer.Run]:
//
//	after, ok, err := sse.ParseResume(r)
//	if err != nil {
//		// 400 {"error":"Invalid request body"}
//	}
//	if !ok {
//		after = startSequence - 1 // the first chunk of the current run
//	}
//	// … authenticate, check ownership, open the chunk subscription …
//	w2, err := sse.NewWriter(w)
//	if err != nil {
//		// 500: the ResponseWriter cannot flush
//	}
//	err = w2.Run(r.Context(), chunksAfter(r.Context(), after), sse.RunOptions{
//		EndStatus: func(ctx context.Context) (string, error) { return runStatus(ctx) },
//	})
//
// A client disconnect cancels r.Context(), which stops the subscription and
// Run. On graceful shutdown the server cancels Run and then calls
// [Writer.Retry] before returning.
package sse
