// Package tools provides Helix's built-in tools, ready to give to an agent:
//
//   - current_time ([CurrentTime]): the current time in an IANA time zone;
//   - calculator ([Calculator]): arithmetic expressions, evaluated by a small
//     parser (no code execution);
//   - http_fetch ([HTTPFetch]): an HTTP GET that refuses loopback, private,
//     link-local, metadata and other internal addresses, checked on the
//     resolved address in the dialer, so DNS tricks and redirects cannot
//     reach them;
//   - read_file, list_files, write_file, delete_file ([Files]): file access
//     confined to a workspace directory with [os.Root]. write_file and
//     delete_file require approval by default.
//
// [ByName] looks tools up by these names for declarative configurations.
//
// All tools are immutable after construction and safe for concurrent use.
// Failures that the model can act on (a bad time zone, a division by zero, a
// refused address, a path outside the workspace) are returned as tool
// errors: the runtime hands their message to the model.
package tools
