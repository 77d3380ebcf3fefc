// Package config reads declarative agents from a helix.yaml file, so the
// helix binary is useful without writing Go:
//
//	workspace: ./workspace            # root for the file tools
//	agents:
//	  - name: assistant
//	    description: General helper
//	    systemPrompt: You are a helpful assistant.
//	    model: openai:gpt-4o          # optional; falls back to --model
//	    maxSteps: 20
//	    tools: [current_time, calculator, http_fetch, read_file, list_files, write_file, delete_file]
//	    approval: { http_fetch: never, write_file: always }   # overrides the tool's default
//	    subAgents: [summarizer]
//	    output: { type: object, properties: { answer: { type: string } }, required: [answer] }
//
// [Load] and [Parse] decode strictly (an unknown field is an error naming
// the field and its line), accept a single YAML document of at most
// [MaxSize] bytes, and validate the result. Every error is one line, naming
// the line, the agent and the field where it can, for the CLI to print as
// is; all of them wrap [ErrInvalid] except I/O errors of [Load].
//
// [File.Build] turns a validated file into [helix.Agent] values: it opens
// each distinct model spec once (with [models.Open] unless
// [BuildOptions.Models] is set), builds the tools with [tools.ByName] and
// the approval overrides, opens the workspace for the file tools, and wires
// sub-agents leaves first. [Agents.Close] releases the workspace.
//
// [Default] is the configuration used when there is no helix.yaml.
package config
