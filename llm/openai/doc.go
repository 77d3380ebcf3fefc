// Package openai is an [llm.Model] over OpenAI's Chat Completions API, for
// OpenAI itself and for the servers that speak the same protocol: vLLM,
// Ollama, llama.cpp, OpenRouter, DeepSeek, Azure OpenAI's v1 endpoint and
// others.
//
// Every call is one streamed request (stream=true with
// stream_options.include_usage) sent through the official SDK,
// github.com/openai/openai-go/v3, with the SDK's own retries switched off:
// the caller's retry policy ([llm.StreamWithRetry]) is the only one. The
// HTTP client fails a response that stalls for longer than
// [Options.IdleTimeout].
//
// # Requests
//
// [llm.Request.System] becomes the first message (role "system", or
// "developer" with [Options.SystemRole]). User text and files travel as
// content parts: images as image_url data URLs, PDFs as file parts, WAV and
// MP3 audio as input_audio. Assistant messages carry their text and tool
// calls; every tool result becomes a "tool" message with its tool_call_id
// and [llm.ToolResult.Text] as content. Thinking parts are dropped: Chat
// Completions takes no reasoning input. Tools are function tools; the tool choice is sent as "none",
// "required" or a named function, and left to the API's default for
// [llm.ToolChoiceAuto]. [llm.Request.Output] becomes a json_schema
// response_format. [llm.ToolSpec.Strict] and [llm.OutputFormat.Strict] send
// strict true only when the schema is one OpenAI's strict mode accepts:
// every object, at any depth (properties, items, anyOf, $defs), lists all
// its properties in required and sets additionalProperties to false, and
// no unsupported keyword (allOf, oneOf, not, if/then/else,
// patternProperties, …) appears. Otherwise, as for a schema that leaves
// optional fields out of required, strict is sent false and the schema is
// still sent, since a strict request would be refused. Settings map to model, temperature, top_p, seed, stop,
// max_completion_tokens (max_tokens with [Options.LegacyMaxTokens]) and
// reasoning_effort. OpenAI caches prompts on its own: a non-zero
// [llm.Settings.Cache] only sends the session id as prompt_cache_key, to
// route the session's calls to the same cache. ThinkingBudget has no Chat
// Completions equivalent and is ignored; use ReasoningEffort.
//
// # Streams and compatible servers
//
// Text deltas become [llm.EventTextDelta] (refusals too). Tool calls are
// reassembled by their index, so parallel calls may interleave:
// [llm.EventToolCallStart] as soon as a call's name is known,
// [llm.EventToolCallDelta] for each piece of its arguments, and
// [llm.EventToolCall] for every call once the answer is complete, its
// arguments passed through [llm.NormalizeArguments]. The answer ends with
// [llm.EventUsage] (when the server reported usage) and one
// [llm.EventFinish]. A "stop" finish with tool calls (OpenAI's answer to a
// forced tool choice) is reported as [llm.FinishToolCalls]; unknown finish
// reasons are [llm.FinishOther].
//
// The parser tolerates what OpenAI-compatible servers do differently:
// tool calls without ids get deterministic ones ("call_<n>", numbered
// across the conversation), an id the answer or the conversation already
// used is made unique, a tool-call delta without an index continues the
// last call unless it brings a new id, a delta naming a function when its
// call is already named starts a new call (for servers that send every
// call at index 0 or without an index, with repeated or missing ids) unless
// the same name comes again before that call's arguments are complete, usage may come in the last chunk or
// not at all, unknown fields and usage-only chunks with no choices are
// ignored, and reasoning text in a delta's "reasoning_content" or
// "reasoning" field (llama.cpp, vLLM's reasoning parsers, DeepSeek,
// OpenRouter) streams as [llm.EventThinkingDelta], closed by
// [llm.EventThinkingEnd] before the first text or tool-call delta.
//
// An answer is complete once a finish_reason arrived and then either the
// closing "data: [DONE]" or the usage chunk that the request asked for. A
// body that ends earlier was cut: it fails with a retryable error.
//
// # Errors
//
// Failures are [*llm.APIError] values with Provider "openai": an error
// status carries the status, the error's code (or its type when it has no
// code), its message with the API key redacted, the Retry-After-Ms or
// Retry-After delay, and Retryable from [llm.RetryableStatus]. Network
// failures and stalls are retryable with Status 0 (a stall wraps
// [llm.ErrIdleTimeout]); an error event in the stream is an APIError with
// Status 0; an event that is not a readable chunk fails as malformed
// (not retryable). A cancelled context ends the stream with the context's
// error. Requests this package cannot encode (an unknown role, a file type
// Chat Completions does not take, a tool choice naming no offered tool)
// fail before anything is sent with a non-retryable APIError (Status 0,
// Message "invalid request: …").
package openai
