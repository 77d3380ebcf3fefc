// Package helix is the user-facing API of Helix for Go: agents with a system
// prompt, typed tools, typed custom state and typed output; the chunks a run
// streams; statuses, hooks and errors.
//
// An agent is inert data. A runtime (runtime/local, in process) executes it
// against a store (package store) and streams every step as [Chunk] values.
package helix
