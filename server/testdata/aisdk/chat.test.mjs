// Drives Helix's /chat route with the real AI SDK client: DefaultChatTransport
// sends the requests, readUIMessageStream assembles the UI message stream.
// Run by server/aisdk_test.go, which starts the server and sets HELIX_URL
// and HELIX_KEY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const base = process.env.HELIX_URL;
const key = process.env.HELIX_KEY;
assert.ok(base && key, 'HELIX_URL and HELIX_KEY must be set');

function transport(agentType) {
  return new DefaultChatTransport({
    api: `${base}/chat`,
    headers: { Authorization: `Bearer ${key}` },
    body: { agentType },
  });
}

// assemble reads a UI message stream to its end and returns the final
// message (continuing `message` if given, as useChat does).
async function assemble(stream, message) {
  let last;
  for await (const m of readUIMessageStream({ stream, message, onError: (e) => { throw e; } })) {
    last = m;
  }
  assert.ok(last, 'the stream produced no message');
  return structuredClone(last);
}

const textOf = (msg) => msg.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');
const user = (id, text) => ({ id, role: 'user', parts: [{ type: 'text', text }] });

test('a text reply streams into one assistant message', async () => {
  const chatId = `node-echo-${process.pid}`;
  const stream = await transport('echo').sendMessages({
    chatId, messages: [user('u1', 'hi')], trigger: 'submit-message', messageId: undefined, abortSignal: undefined,
  });
  const msg = await assemble(stream);
  assert.equal(msg.role, 'assistant');
  assert.equal(textOf(msg), 'hello from helix');
  assert.ok(msg.parts.some((p) => p.type === 'step-start'), 'a step-start part');
});

test('a tool call needs approval; the approval resumes the run in the same message', async () => {
  const chatId = `node-approval-${process.pid}`;
  const t = transport('approver');
  const first = user('u1', 'do the dangerous thing');
  let msg = await assemble(await t.sendMessages({
    chatId, messages: [first], trigger: 'submit-message', messageId: undefined, abortSignal: undefined,
  }));
  assert.equal(textOf(msg), 'let me');
  let tool = msg.parts.find((p) => p.type === 'tool-danger');
  assert.ok(tool, `a tool-danger part in ${JSON.stringify(msg.parts)}`);
  assert.equal(tool.state, 'approval-requested');
  assert.deepEqual(tool.input, { x: 7 });
  assert.ok(tool.approval && tool.approval.id, 'the part carries the approval id');

  // What useChat's addToolApprovalResponse does, then the next request.
  tool.state = 'approval-responded';
  tool.approval = { id: tool.approval.id, approved: true };
  msg = await assemble(await t.sendMessages({
    chatId, messages: [first, msg], trigger: 'submit-message', messageId: msg.id, abortSignal: undefined,
  }), msg);

  tool = msg.parts.find((p) => p.type === 'tool-danger');
  assert.equal(tool.state, 'output-available');
  assert.deepEqual(tool.input, { x: 7 });
  assert.equal(tool.output, 'did 7');
  assert.equal(textOf(msg), 'let medone');
  assert.equal(msg.parts.filter((p) => p.type === 'tool-danger').length, 1, 'one tool part, not two');

  // The same approval again is refused: the call is no longer pending.
  await assert.rejects(
    t.sendMessages({ chatId, messages: [first, msg], trigger: 'submit-message', messageId: msg.id, abortSignal: undefined }),
    /409|not pending/i,
  );
});

test('reconnecting to a session with no active run answers 204', async () => {
  const chatId = `node-echo-${process.pid}`;
  const stream = await transport('echo').reconnectToStream({ chatId });
  assert.equal(stream, null);
});

test('regenerate-message answers the question again, and the history holds it once', async () => {
  const chatId = `node-regen-${process.pid}`;
  const t = transport('echo');
  const first = user('u1', 'hi');
  const msg = await assemble(await t.sendMessages({
    chatId, messages: [first], trigger: 'submit-message', messageId: undefined, abortSignal: undefined,
  }));
  // What useChat's regenerate() sends: the history without the answer.
  const again = await assemble(await t.sendMessages({
    chatId, messages: [first], trigger: 'regenerate-message', messageId: msg.id, abortSignal: undefined,
  }));
  assert.equal(textOf(again), 'hello from helix');
  assert.notEqual(again.id, msg.id, 'a new assistant message');
  const res = await fetch(`${base}/messages?sessionId=${chatId}`, { headers: { Authorization: `Bearer ${key}` } });
  assert.equal(res.status, 200);
  const page = await res.json();
  assert.equal(page.total, 2, `history ${JSON.stringify(page)}`);
  assert.equal(page.messages[0].role, 'user');
  assert.equal(page.messages[1].role, 'assistant');
});
