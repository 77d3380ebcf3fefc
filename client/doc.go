// Package client is a Go client for the Helix HTTP API (DESIGN §5): it
// starts, resumes, interrupts and inspects agent sessions on a Helix
// server and follows their chunk streams over Server-Sent Events.
//
// # Usage
//
//	c, err := client.New("https://helix.example.com", client.Options{Token: apiKey})
//	if err != nil { … }
//	run, err := c.Start(ctx, client.StartRequest{AgentType: "assistant", Message: "Hello"})
//	if err != nil { … }
//	st := c.Stream(run.SessionID, -1) // from the first chunk of the current run
//	for chunk, err := range st.Chunks(ctx) {
//		if err != nil { … }
//		if chunk.Type == helix.ChunkTextDelta {
//			fmt.Print(chunk.Delta)
//		}
//	}
//	fmt.Println("run ended:", st.EndStatus())
//
// # Errors
//
// An error answer of the server is an [*Error] carrying the status code,
// the server's message and any Retry-After. It matches the sentinels of
// this package with errors.Is:
//
//	if errors.Is(err, client.ErrAgentRunning) { … }
//
// Requests other than streams are never retried by the client; [Error.Retryable]
// and [Error.RetryAfter] tell a caller when retrying may help. Context
// errors are returned unchanged.
//
// # Streams
//
// [Stream.Chunks] yields every chunk once and in order. It survives dropped
// connections, server restarts and rolling deploys by reconnecting with
// Last-Event-ID after a jittered exponential backoff (honouring the
// server's "retry:" hint), and it checks that sequences have no gap and no
// duplicate. A [Stream] is a cursor: calling Chunks again continues after
// the last chunk it yielded.
package client
