// The Helix playground. It talks to the native API with fetch and a bearer
// key, streams runs over SSE (parsed by hand, since EventSource cannot send
// an Authorization header) and renders every piece of model and tool text
// with textContent: nothing from the server is ever parsed as HTML.

import { applyPatch } from './jsonpatch.js';
import { readSSE } from './sse.js';

const KEY_STORAGE = 'helix.apiKey';
const AGENT_STORAGE = 'helix.agent';
const MAX_EVENTS = 200;
const MAX_RECONNECTS = 8;

const $ = (id) => document.getElementById(id);
const els = {
  sidebar: $('sidebar'),
  sidebarToggle: $('sidebar-toggle'),
  agent: $('agent'),
  agentDescription: $('agent-description'),
  status: $('run-status'),
  changeKey: $('change-key'),
  newChat: $('new-chat'),
  refreshSessions: $('refresh-sessions'),
  sessions: $('sessions'),
  sessionsEmpty: $('sessions-empty'),
  errorBanner: $('error-banner'),
  conversation: $('conversation'),
  emptyHint: $('empty-hint'),
  composer: $('composer'),
  message: $('message'),
  send: $('send'),
  resume: $('resume'),
  interrupt: $('interrupt'),
  abort: $('abort'),
  stateView: $('state-view'),
  stateNote: $('state-note'),
  events: $('events'),
  eventsEmpty: $('events-empty'),
  usage: $('usage'),
  sessionId: $('session-id'),
  keyDialog: $('key-dialog'),
  keyForm: $('key-form'),
  keyInput: $('api-key'),
  keyError: $('key-error'),
  clearKey: $('clear-key'),
  cancelKey: $('cancel-key'),
};

const app = {
  key: sessionStorage.getItem(KEY_STORAGE) || '',
  agents: [],
  session: null, // {id, agentType}
  status: 'idle',
  lastSeq: 0,
  stream: null, // AbortController of the open stream
  streamGen: 0, // bumped whenever the shown session changes
  turn: null, // the assistant message being written
  textBlock: null, // the text block that text_delta appends to
  thinkingBlock: null,
  tools: new Map(), // toolCallId → tool card
  customState: {},
  stateBroken: false,
  afterKey: null, // what to retry once a key is entered
};

// ---------- small DOM helpers (text only, never HTML) ----------

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function pretty(value) {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value, null, 2);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

function scrollToEnd() {
  const c = els.conversation;
  if (c.scrollHeight - c.scrollTop - c.clientHeight < 160) c.scrollTop = c.scrollHeight;
}

// ---------- API ----------

class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders() {
  return app.key ? { Authorization: `Bearer ${app.key}` } : {};
}

async function api(method, path, body) {
  const init = { method, headers: authHeaders(), cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new APIError(0, 'The server cannot be reached.');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.status === 401) throw new APIError(401, 'Unauthorized');
  if (!res.ok) throw new APIError(res.status, (data && data.error) || `HTTP ${res.status}`);
  return data;
}

// handleError shows err; a 401 opens the key prompt and retries retry
// once a key is saved.
function handleError(err, retry) {
  if (err instanceof APIError && err.status === 401) {
    promptKey(app.key ? 'The server refused this key. Enter another one.' : '', retry);
    return;
  }
  showError(err instanceof Error ? err.message : String(err));
}

function showError(message) {
  els.errorBanner.textContent = message;
  els.errorBanner.hidden = !message;
}

// ---------- API key ----------

function promptKey(message, retry) {
  app.afterKey = retry || app.afterKey;
  els.keyError.textContent = message || '';
  els.keyInput.value = app.key;
  if (!els.keyDialog.open) els.keyDialog.showModal();
  els.keyInput.focus();
  els.keyInput.select();
}

els.keyForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const key = els.keyInput.value.trim();
  if (!key) {
    els.keyError.textContent = 'Enter a key.';
    return;
  }
  app.key = key;
  sessionStorage.setItem(KEY_STORAGE, key);
  els.keyDialog.close();
  const retry = app.afterKey || boot;
  app.afterKey = null;
  retry();
});

els.clearKey.addEventListener('click', () => {
  app.key = '';
  sessionStorage.removeItem(KEY_STORAGE);
  els.keyInput.value = '';
  els.keyError.textContent = 'Key forgotten.';
  els.keyInput.focus();
});

els.cancelKey.addEventListener('click', () => els.keyDialog.close());
els.changeKey.addEventListener('click', () => promptKey('', boot));

// ---------- agents and sessions ----------

async function boot() {
  showError('');
  try {
    await loadAgents();
    await loadSessions();
  } catch (err) {
    handleError(err, boot);
  }
}

async function loadAgents() {
  const data = await api('GET', '/agents');
  app.agents = data.agents || [];
  const saved = sessionStorage.getItem(AGENT_STORAGE);
  els.agent.replaceChildren(...app.agents.map((a) => h('option', { value: a.name, text: a.name })));
  const names = app.agents.map((a) => a.name);
  const pick = app.session?.agentType || (names.includes(saved) ? saved : '') || data.default || names[0] || '';
  if (!app.agents.length) els.agent.append(h('option', { value: '', text: '(no agents)' }));
  els.agent.value = pick;
  els.agent.disabled = !app.agents.length;
  describeAgent();
}

function describeAgent() {
  const a = app.agents.find((x) => x.name === els.agent.value);
  if (!a) {
    els.agentDescription.textContent = '';
    return;
  }
  const tools = (a.tools || []).map((t) => t.name).join(', ');
  els.agentDescription.textContent = [a.description, tools && `Tools: ${tools}`].filter(Boolean).join(' — ');
}

els.agent.addEventListener('change', () => {
  sessionStorage.setItem(AGENT_STORAGE, els.agent.value);
  describeAgent();
  if (app.session && app.session.agentType !== els.agent.value) newChat();
});

async function loadSessions() {
  const data = await api('GET', '/sessions?limit=50');
  const list = (data.sessions || []).filter((s) => !s.parentSessionId);
  els.sessions.replaceChildren(...list.map(sessionItem));
  els.sessionsEmpty.hidden = list.length > 0;
}

function sessionItem(s) {
  const when = new Date(s.updatedAt);
  const current = app.session?.id === s.sessionId;
  const btn = h('button', {
    type: 'button',
    class: 'session-button',
    'aria-current': current ? 'true' : null,
    onclick: () => {
      closeSidebarIfNarrow();
      openSession(s.sessionId, s.agentType);
    },
  },
  h('span', { class: 'session-agent', text: s.agentType }),
  h('span', { class: 'badge small', dataset: { status: s.status }, text: s.status }),
  h('span', { class: 'session-meta muted', text: `${when.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })} · ${s.messageCount} messages` }),
  h('span', { class: 'session-id muted mono', text: s.sessionId }));
  return h('li', {}, btn);
}

els.refreshSessions.addEventListener('click', () => loadSessions().catch((e) => handleError(e, loadSessions)));
els.newChat.addEventListener('click', () => {
  newChat();
  closeSidebarIfNarrow();
  els.message.focus();
});

// ---------- sidebar on narrow screens ----------

const narrow = window.matchMedia('(max-width: 700px)');

function setSidebar(open) {
  els.sidebar.classList.toggle('open', open);
  els.sidebarToggle.setAttribute('aria-expanded', String(open));
}

function closeSidebarIfNarrow() {
  if (narrow.matches) setSidebar(false);
}

els.sidebarToggle.addEventListener('click', () => {
  const open = !els.sidebar.classList.contains('open');
  setSidebar(open);
  if (open) els.sidebar.querySelector('button')?.focus();
});

els.sidebar.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && narrow.matches && els.sidebar.classList.contains('open')) {
    setSidebar(false);
    els.sidebarToggle.focus();
  }
});

narrow.addEventListener('change', () => setSidebar(false));

document.addEventListener('click', (ev) => {
  if (!narrow.matches || !els.sidebar.classList.contains('open')) return;
  if (els.sidebar.contains(ev.target) || els.sidebarToggle.contains(ev.target)) return;
  setSidebar(false);
});

// ---------- session view ----------

function resetView() {
  app.streamGen++;
  app.stream?.abort();
  app.stream = null;
  app.turn = null;
  app.textBlock = null;
  app.thinkingBlock = null;
  app.tools.clear();
  app.lastSeq = 0;
  app.customState = {};
  app.stateBroken = false;
  els.conversation.replaceChildren(els.emptyHint);
  els.emptyHint.hidden = false;
  els.events.replaceChildren();
  els.eventsEmpty.hidden = false;
  els.usage.textContent = '—';
  els.stateNote.textContent = '';
  renderState(false);
  showError('');
}

function newChat() {
  resetView();
  app.session = null;
  els.sessionId.textContent = '';
  setStatus('idle');
  markCurrentSession();
}

function setSession(id, agentType) {
  app.session = { id, agentType };
  els.sessionId.textContent = `Session ${id}`;
  if (agentType && els.agent.value !== agentType) {
    els.agent.value = agentType;
    describeAgent();
  }
  markCurrentSession();
}

function markCurrentSession() {
  for (const li of els.sessions.children) {
    const btn = li.firstElementChild;
    const id = btn.querySelector('.session-id')?.textContent;
    if (id === app.session?.id) btn.setAttribute('aria-current', 'true');
    else btn.removeAttribute('aria-current');
  }
}

const RUNNING = 'running';

function setStatus(status) {
  app.status = status;
  els.status.textContent = status;
  els.status.dataset.status = status;
  const running = status === RUNNING || status === 'starting…' || status === 'reconnecting…';
  const hasSession = Boolean(app.session);
  // A suspended run takes no new message until its calls are answered.
  els.send.disabled = running || status.startsWith('suspended') || status === 'loading…';
  els.interrupt.disabled = !(hasSession && running);
  els.abort.disabled = !(hasSession && (running || status.startsWith('suspended') || status === 'interrupted'));
  els.resume.hidden = !(hasSession && status === 'interrupted');
  els.conversation.setAttribute('aria-busy', String(running));
}

async function openSession(id, agentType) {
  resetView();
  setSession(id, agentType);
  setStatus('loading…');
  const gen = app.streamGen;
  try {
    const [msgs, st] = await Promise.all([
      api('GET', `/messages?sessionId=${encodeURIComponent(id)}&limit=1000`),
      api('GET', `/status?sessionId=${encodeURIComponent(id)}`),
    ]);
    if (gen !== app.streamGen) return;
    renderHistory(msgs.messages || []);
    if (msgs.hasMore) note(`Showing the first ${msgs.messages.length} of ${msgs.total} messages.`);
    app.lastSeq = st.streamSequence || 0;
    setStatus(st.status);
    showUsage(st.usage);
    if (st.error) errorBlock(st.error);
    renderPending(st.pending || []);
    await replayState(id, app.lastSeq, gen);
    if (gen !== app.streamGen) return;
    if (st.status === RUNNING) openStream(app.lastSeq);
  } catch (err) {
    if (gen === app.streamGen) {
      setStatus('error');
      handleError(err, () => openSession(id, agentType));
    }
  }
}

// replayState rebuilds the custom state and the event list of a session
// from its stream: every chunk up to sequence upto, rendering nothing else.
async function replayState(id, upto, gen) {
  if (upto <= 0) return;
  const ctrl = new AbortController();
  const abortOnSwitch = () => gen !== app.streamGen && ctrl.abort();
  try {
    const res = await fetch(`/sse?sessionId=${encodeURIComponent(id)}&after=0`, {
      headers: authHeaders(), signal: ctrl.signal, cache: 'no-store',
    });
    if (!res.ok) throw new APIError(res.status, 'cannot replay');
    await readSSE(res, (ev) => {
      abortOnSwitch();
      if (ev.event !== 'chunk') return;
      const seq = Number(ev.id);
      if (seq > upto) {
        ctrl.abort();
        return;
      }
      const chunk = JSON.parse(ev.data);
      if (chunk.type === 'state_patch') applyStatePatch(chunk.patches, false);
      else if (chunk.type === 'custom') addEvent(chunk.eventName, chunk.data);
      if (seq === upto) ctrl.abort();
    });
  } catch (err) {
    if (ctrl.signal.aborted) {
      renderState(false);
      return;
    }
    els.stateNote.textContent = 'The state history could not be read.';
  }
  renderState(false);
}

// ---------- rendering ----------

function note(text) {
  els.emptyHint.hidden = true;
  els.conversation.append(h('p', { class: 'note muted', text }));
}

function userMessage(text) {
  els.emptyHint.hidden = true;
  app.turn = null;
  app.textBlock = null;
  els.conversation.append(h('article', { class: 'msg user', 'aria-label': 'You' },
    h('h3', { class: 'msg-role', text: 'You' }),
    h('div', { class: 'msg-text', text })));
  scrollToEnd();
}

function ensureTurn() {
  if (!app.turn) {
    els.emptyHint.hidden = true;
    app.turn = h('article', { class: 'msg assistant', 'aria-label': 'Assistant' },
      h('h3', { class: 'msg-role', text: 'Assistant' }));
    els.conversation.append(app.turn);
    app.textBlock = null;
  }
  return app.turn;
}

function appendText(delta) {
  const turn = ensureTurn();
  if (!app.textBlock || turn.lastElementChild !== app.textBlock) {
    app.textBlock = h('div', { class: 'msg-text' });
    turn.append(app.textBlock);
  }
  app.textBlock.append(delta);
  scrollToEnd();
}

function thinking(content, complete) {
  const turn = ensureTurn();
  if (!app.thinkingBlock) {
    const body = h('div', { class: 'thinking-text' });
    app.thinkingBlock = h('details', { class: 'thinking' }, h('summary', { text: 'Thinking' }), body);
    turn.append(app.thinkingBlock);
  }
  const body = app.thinkingBlock.querySelector('.thinking-text');
  if (complete) {
    if (content) body.textContent = content;
    app.thinkingBlock = null;
  } else {
    body.append(content);
  }
}

// toolCard returns the card of a tool call, creating it in the current turn.
function toolCard(id, name) {
  let card = app.tools.get(id);
  if (card) return card;
  const turn = ensureTurn();
  const status = h('span', { class: 'tool-status badge small', dataset: { status: 'pending' }, text: 'pending' });
  const args = h('pre', { class: 'json-view tool-args', tabindex: '0' });
  const result = h('pre', { class: 'json-view tool-result', tabindex: '0' });
  const details = h('details', { class: 'tool-details' },
    h('summary', {}, 'Details'),
    h('h4', { class: 'tool-label', text: 'Arguments' }), args,
    h('div', { class: 'tool-result-wrap', hidden: true }, h('h4', { class: 'tool-label', text: 'Result' }), result));
  const actions = h('div', { class: 'tool-actions' });
  const el = h('section', { class: 'tool-card', 'aria-label': `Tool call ${name || ''}`, dataset: { toolCallId: id } },
    h('div', { class: 'tool-head' },
      h('span', { class: 'tool-icon', 'aria-hidden': 'true', text: '⚙' }),
      h('span', { class: 'tool-name mono', text: name || 'tool' }),
      status),
    details, actions);
  turn.append(el);
  app.textBlock = null;
  card = { el, status, args, result, details, actions, argsText: '' };
  app.tools.set(id, card);
  scrollToEnd();
  return card;
}

function setToolStatus(card, status, label) {
  card.status.dataset.status = status;
  card.status.textContent = label || status;
}

function setToolArgs(card, args) {
  card.args.textContent = pretty(args);
}

function setToolResult(card, result, success, error) {
  const wrap = card.result.parentElement;
  wrap.hidden = false;
  const text = error ? `${error}${result !== undefined && result !== null ? `\n${pretty(result)}` : ''}` : pretty(result);
  card.result.textContent = text;
  card.result.classList.toggle('is-error', !success);
  setToolStatus(card, success ? 'done' : 'failed', success ? 'done' : 'failed');
}

function approvalButtons(card, toolCallId) {
  card.actions.replaceChildren();
  setToolStatus(card, 'approval', 'needs approval');
  card.details.open = true;
  const reason = h('input', { type: 'text', class: 'reason-input', id: `reason-${toolCallId}`, placeholder: 'optional' });
  const approve = h('button', { type: 'button', class: 'approve', text: 'Approve' });
  const deny = h('button', { type: 'button', class: 'danger', text: 'Deny' });
  const decide = async (approved) => {
    approve.disabled = true;
    deny.disabled = true;
    const body = { sessionId: app.session.id, toolCallId, kind: 'approval', approved };
    if (reason.value.trim()) body.reason = reason.value.trim();
    await submitTool(body, card, approved ? 'approved' : 'denied', () => {
      approve.disabled = false;
      deny.disabled = false;
    });
  };
  approve.addEventListener('click', () => decide(true));
  deny.addEventListener('click', () => decide(false));
  card.actions.append(
    h('div', { class: 'reason' }, h('label', { for: reason.id, class: 'small', text: 'Reason' }), reason), approve, deny);
}

function clientToolForm(card, toolCallId) {
  card.actions.replaceChildren();
  setToolStatus(card, 'approval', 'waiting for client');
  card.details.open = true;
  const input = h('textarea', { id: `client-${toolCallId}`, rows: '3', class: 'mono', placeholder: '{"ok": true}' });
  const sendResult = h('button', { type: 'button', text: 'Send result' });
  const sendError = h('button', { type: 'button', class: 'secondary', text: 'Send as error' });
  const submit = async (asError) => {
    const text = input.value.trim();
    const body = { sessionId: app.session.id, toolCallId, kind: 'client-tool-result' };
    if (asError) body.error = text || 'failed';
    else {
      try {
        body.result = text ? JSON.parse(text) : null;
      } catch {
        showError('The result must be JSON.');
        return;
      }
    }
    sendResult.disabled = true;
    sendError.disabled = true;
    await submitTool(body, card, asError ? 'error sent' : 'result sent', () => {
      sendResult.disabled = false;
      sendError.disabled = false;
    });
  };
  sendResult.addEventListener('click', () => submit(false));
  sendError.addEventListener('click', () => submit(true));
  card.actions.append(h('label', { for: input.id, class: 'small', text: 'Client tool result (JSON)' }), input, sendResult, sendError);
}

async function submitTool(body, card, label, restore) {
  showError('');
  try {
    const res = await api('POST', '/submit-tool-result', body);
    card.actions.replaceChildren(h('span', { class: 'muted small', text: `You ${label} this call.` }));
    setToolStatus(card, 'pending', label);
    // The buttons are gone: keep the keyboard focus on the card.
    card.el.tabIndex = -1;
    card.el.focus();
    if (res.resumed) {
      setStatus(RUNNING);
      openStream(app.lastSeq);
    }
  } catch (err) {
    restore();
    handleError(err, () => submitTool(body, card, label, restore));
  }
}

function renderPending(pending) {
  for (const p of pending) {
    const card = toolCard(p.toolCallId, p.toolName);
    if (p.arguments !== undefined && !card.args.textContent) setToolArgs(card, p.arguments);
    if (p.kind === 'approval') approvalButtons(card, p.toolCallId);
    else if (p.kind === 'client_tool') clientToolForm(card, p.toolCallId);
    else setToolStatus(card, 'pending', `waiting (${p.kind})`);
  }
}

function errorBlock(e) {
  const turn = ensureTurn();
  const msg = (e && e.message) || 'The run failed.';
  const code = e && e.code ? ` (${e.code})` : '';
  turn.append(h('div', { class: 'error-block', role: 'alert' }, h('strong', { text: 'Error: ' }), `${msg}${code}`));
  app.textBlock = null;
  scrollToEnd();
}

const STATUS_TEXT = {
  completed: 'completed',
  failed: 'failed',
  interrupted: 'interrupted',
  suspended_approval: 'paused: waiting for approval',
  suspended_client_tool: 'paused: waiting for a client tool result',
  suspended_awaiting_children: 'paused: waiting for sub-agents',
  suspended_step_partial: 'paused mid-step',
};

function runEnd(chunk) {
  const turn = ensureTurn();
  const parts = [STATUS_TEXT[chunk.status] || chunk.status];
  if (chunk.completionReason) parts.push(chunk.completionReason);
  const u = chunk.usage;
  if (u && u.totalTokens) parts.push(`${u.totalTokens} tokens`);
  turn.append(h('p', { class: 'run-end muted small', text: `Run ${parts.join(' · ')}` }));
  app.textBlock = null;
  showUsage(u);
}

function showUsage(u) {
  if (!u) return;
  const bits = [`prompt ${u.promptTokens || 0}`, `completion ${u.completionTokens || 0}`];
  if (u.reasoningTokens) bits.push(`reasoning ${u.reasoningTokens}`);
  if (u.cachedTokens) bits.push(`cached ${u.cachedTokens}`);
  bits.push(`total ${u.totalTokens || 0}`);
  els.usage.textContent = `Tokens: ${bits.join(' · ')}`;
}

function renderHistory(messages) {
  for (const m of messages) {
    if (m.role === 'user') {
      const text = (m.parts || []).filter((p) => p.type === 'text').map((p) => p.text).join('\n');
      const files = (m.parts || []).filter((p) => p.type === 'file');
      userMessage(text + files.map((p) => `\n[file ${p.file?.name || p.file?.mediaType || ''}]`).join(''));
      continue;
    }
    for (const p of m.parts || []) {
      switch (p.type) {
        case 'text':
          appendText(p.text || '');
          break;
        case 'thinking':
          if (p.text) thinking(p.text, true);
          break;
        case 'tool_call': {
          const card = toolCard(p.toolCall.id, p.toolCall.name);
          setToolArgs(card, p.toolCall.arguments);
          setToolStatus(card, 'pending', 'called');
          break;
        }
        case 'tool_result': {
          const r = p.toolResult;
          const card = toolCard(r.toolCallId, r.toolName);
          setToolResult(card, r.output, !r.isError, '');
          break;
        }
        case 'file':
          appendText(`[file ${p.file?.name || p.file?.mediaType || ''}]`);
          break;
        default:
      }
    }
    if (m.interrupted) note('(reply cut short)');
  }
}

// ---------- state and events ----------

function renderState(flash) {
  els.stateView.textContent = JSON.stringify(app.customState, null, 2);
  if (flash) {
    els.stateView.classList.remove('flash');
    void els.stateView.offsetWidth; // restart the animation
    els.stateView.classList.add('flash');
  }
}

function applyStatePatch(patches, live) {
  try {
    app.customState = applyPatch(app.customState, patches);
  } catch (err) {
    app.stateBroken = true;
    els.stateNote.textContent = `A change could not be applied (${err.message}); the view may be out of date.`;
  }
  const summary = (patches || []).map((p) => `${p.op} ${p.path || '/'}`).join(', ');
  addEvent('state', patches, summary);
  if (live) renderState(true);
}

function addEvent(name, data, summary) {
  els.eventsEmpty.hidden = true;
  const item = h('li', { class: name === 'state' ? 'event state-event' : 'event custom-event' },
    h('span', { class: 'event-name mono', text: name === 'state' ? 'state_patch' : name }),
    summary ? h('span', { class: 'event-summary', text: summary }) : null,
    h('details', {}, h('summary', { text: 'Data' }), h('pre', { class: 'json-view', text: pretty(data) })));
  els.events.append(item);
  while (els.events.children.length > MAX_EVENTS) els.events.firstElementChild.remove();
  els.events.scrollTop = els.events.scrollHeight;
}

// ---------- chunks ----------

function handleChunk(c) {
  switch (c.type) {
    case 'run_start':
      if (c.input) userMessage(c.input);
      setStatus(RUNNING);
      break;
    case 'step_start':
      app.textBlock = null;
      break;
    case 'text_delta':
      appendText(c.delta || '');
      break;
    case 'thinking':
      thinking(c.content || '', c.isComplete);
      break;
    case 'tool_arg_stream_start':
      setToolStatus(toolCard(c.toolCallId, c.toolName), 'pending', 'preparing');
      break;
    case 'tool_arg_stream_delta': {
      const card = toolCard(c.toolCallId, c.toolName);
      card.argsText += c.argsDelta || '';
      card.args.textContent = card.argsText;
      break;
    }
    case 'tool_start': {
      const card = toolCard(c.toolCallId, c.toolName);
      setToolArgs(card, c.arguments);
      if (card.status.dataset.status !== 'approval') setToolStatus(card, 'running', 'running');
      break;
    }
    case 'tool_approval_request': {
      const card = toolCard(c.toolCallId, c.toolName);
      if (c.input !== undefined) setToolArgs(card, c.input);
      approvalButtons(card, c.toolCallId);
      break;
    }
    case 'client_tool_request': {
      const card = toolCard(c.toolCallId, c.toolName);
      if (c.input !== undefined) setToolArgs(card, c.input);
      clientToolForm(card, c.toolCallId);
      break;
    }
    case 'tool_end': {
      const card = toolCard(c.toolCallId, c.toolName);
      card.actions.replaceChildren();
      setToolResult(card, c.result, c.success, c.error);
      break;
    }
    case 'subagent_start':
      ensureTurn().append(h('p', { class: 'note muted small', text: `Sub-agent ${c.childAgentType} started (session ${c.childSessionId}).` }));
      app.textBlock = null;
      break;
    case 'subagent_end':
      ensureTurn().append(h('p', { class: 'note muted small', text: `Sub-agent ${c.childAgentType} ${c.status}.` }));
      app.textBlock = null;
      break;
    case 'state_patch':
      applyStatePatch(c.patches, true);
      break;
    case 'custom':
      addEvent(c.eventName || 'custom', c.data);
      break;
    case 'output':
      ensureTurn().append(h('div', { class: 'output' }, h('h4', { class: 'tool-label', text: 'Output' }),
        h('pre', { class: 'json-view', tabindex: '0', text: pretty(c.output) })));
      app.textBlock = null;
      break;
    case 'error':
      errorBlock(c.error);
      break;
    case 'run_end':
      runEnd(c);
      setStatus(c.status);
      break;
    default:
  }
  scrollToEnd();
}

// openStream follows the session's stream from sequence after (null: the
// current run's first chunk) until an end event, reconnecting with
// Last-Event-ID when the connection drops.
async function openStream(after) {
  const session = app.session;
  if (!session) return;
  app.stream?.abort();
  const ctrl = new AbortController();
  app.stream = ctrl;
  const gen = app.streamGen;
  let from = after;
  let retryMs = 1000;
  let attempt = 0;
  let runEndStatus = null; // status of the last run_end chunk seen
  for (;;) {
    let ended = null;
    try {
      const headers = authHeaders();
      if (from !== null && from !== undefined) headers['Last-Event-ID'] = String(from);
      const res = await fetch(`/sse?sessionId=${encodeURIComponent(session.id)}`, { headers, signal: ctrl.signal, cache: 'no-store' });
      if (!res.ok) {
        let msg = `HTTP ${res.status}`;
        try {
          msg = (await res.json()).error || msg;
        } catch {
          // keep the status line
        }
        throw new APIError(res.status, msg);
      }
      if (app.status === 'reconnecting…') setStatus(RUNNING);
      await readSSE(res, (ev) => {
        if (ctrl.signal.aborted) return;
        if (ev.retry !== null) retryMs = ev.retry;
        if (ev.event === 'chunk') {
          if (ev.id) {
            const seq = Number(ev.id);
            if (seq <= app.lastSeq && from !== null) return; // already shown
            app.lastSeq = seq;
            from = seq;
          }
          let chunk;
          try {
            chunk = JSON.parse(ev.data);
          } catch {
            return;
          }
          attempt = 0;
          if (chunk.type === 'run_end') runEndStatus = chunk.status;
          else if (chunk.type === 'run_start') runEndStatus = null;
          handleChunk(chunk);
        } else if (ev.event === 'end') {
          try {
            ended = JSON.parse(ev.data).status || 'ended';
          } catch {
            ended = 'ended';
          }
        }
      });
    } catch (err) {
      if (ctrl.signal.aborted) return;
      if (err instanceof APIError && err.status !== 429 && err.status < 500 && err.status !== 0) {
        if (app.stream === ctrl) app.stream = null;
        setStatus('error');
        handleError(err, () => openStream(from));
        return;
      }
    }
    if (ctrl.signal.aborted || gen !== app.streamGen) return;
    // The end event reports the session's status as stored when the stream
    // closed, which can lag behind the run_end chunk: trust the chunk.
    if (ended === RUNNING && runEndStatus) ended = runEndStatus;
    if (ended && ended !== RUNNING) {
      if (app.stream === ctrl) app.stream = null;
      streamEnded(ended);
      return;
    }
    if (++attempt > MAX_RECONNECTS) {
      if (app.stream === ctrl) app.stream = null;
      setStatus('disconnected');
      showError('The stream was lost. Open the session again from the list to continue.');
      return;
    }
    if (from === null && app.lastSeq > 0) from = app.lastSeq;
    setStatus('reconnecting…');
    await sleep(Math.min(retryMs * attempt, 10000), ctrl.signal);
    if (ctrl.signal.aborted) return;
  }
}

function streamEnded(status) {
  setStatus(status);
  if (!status.startsWith('suspended')) app.turn = null;
  app.textBlock = null;
  loadSessions().catch(() => {});
}

// ---------- composer and run controls ----------

async function send() {
  const text = els.message.value;
  if (!text.trim() || els.send.disabled) return;
  const agentType = app.session?.agentType || els.agent.value;
  if (!agentType) {
    showError('Choose an agent first.');
    return;
  }
  showError('');
  const body = { agentType, message: text };
  if (app.session) body.sessionId = app.session.id;
  const before = app.status;
  setStatus('starting…');
  try {
    const res = await api('POST', '/start', body);
    els.message.value = '';
    if (!app.session || app.session.id !== res.sessionId) setSession(res.sessionId, agentType);
    app.turn = null;
    openStream(null);
    loadSessions().catch(() => {});
  } catch (err) {
    setStatus(before);
    handleError(err, send);
  }
}

els.composer.addEventListener('submit', (ev) => {
  ev.preventDefault();
  send();
});

els.message.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    send();
  }
});

async function control(path) {
  if (!app.session) return;
  showError('');
  try {
    const id = app.session.id;
    await api('POST', path, { sessionId: id });
    // The answer holds the status when the request was made; a running
    // run reports its end on its stream. Without a stream, ask.
    if (!app.stream && app.session?.id === id) {
      const st = await api('GET', `/status?sessionId=${encodeURIComponent(id)}`);
      if (app.stream || app.session?.id !== id) return;
      setStatus(st.status);
      if (st.status === RUNNING) openStream(app.lastSeq);
    }
    loadSessions().catch(() => {});
  } catch (err) {
    handleError(err, () => control(path));
  }
}

els.interrupt.addEventListener('click', () => control('/interrupt'));
els.abort.addEventListener('click', () => control('/abort'));
els.resume.addEventListener('click', async () => {
  if (!app.session) return;
  showError('');
  try {
    await api('POST', '/resume', { sessionId: app.session.id });
    app.turn = null;
    setStatus(RUNNING);
    openStream(app.lastSeq);
  } catch (err) {
    handleError(err);
  }
});

setStatus('idle');
boot();
