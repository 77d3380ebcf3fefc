// Package chat speaks the Vercel AI SDK "UI message stream" protocol (v1), the
// wire format of the AI SDK's useChat hook and DefaultChatTransport, on top
// of Helix's chunk stream. It is pure: no HTTP, no store. The server's
// POST /chat/{sessionId} and GET /chat/{sessionId}/stream routes use it.
//
// # Responses
//
// An [Encoder] turns the [helix.Chunk] values of a run into UI message
// stream parts ([Part]). The HTTP layer writes each part as one Server-Sent
// Event, "data: <json>\n\n", and ends the stream with "data: [DONE]\n\n"
// ([Done]); the response carries the header [HeaderName]: [HeaderValue].
// The mapping:
//
//	run_start              start {messageId}
//	step_start / step_end  start-step / finish-step
//	text_delta             text-start, text-delta {id, delta}, text-end
//	thinking               reasoning-start, reasoning-delta, reasoning-end
//	tool_arg_stream_*      tool-input-start / tool-input-delta
//	tool_start             tool-input-available {toolCallId, toolName, input}
//	tool_end               tool-output-available, tool-output-error, or
//	                       tool-output-denied (a denied approval)
//	tool_approval_request  tool-input-available + tool-approval-request
//	client_tool_request    tool-input-available (the browser runs the tool)
//	state_patch            data-state-patch {data: {patches}}
//	custom                 data-<eventName> {data}
//	subagent_start / _end  data-subagent {id: toolCallId, data}
//	output                 data-output {data}
//	error                  error {errorText}
//	run_end                finish {finishReason, messageMetadata}
//
// Text and reasoning blocks are closed before a tool call, at the end of a
// step and at the end of a run. Chunks forwarded from a sub-agent's session
// are not mapped (data-subagent marks the child's start and end), except
// the calls the child needs the client for: its approval requests and
// client-tool calls, and their outcomes, appear as tool parts of this
// message under [ChildCallID] ids ("<child session>/<call id>"), which a
// request answers like any other. Calls of the synthetic finish tool are
// not mapped either (data-output carries the run's output).
//
// # Requests
//
// [ParseRequest] reads the body of POST /chat/{sessionId}: either
// {"message": "text"} or the body DefaultChatTransport sends,
// {id, messages, trigger, messageId} plus the caller's extra fields. Only the
// newest message matters: a user message is new input; an assistant message
// carries the answers to pending calls in its tool parts (approval responses,
// client tool outputs).
package chat
