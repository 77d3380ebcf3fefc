// A server-sent events parser for fetch() bodies (EventSource cannot send
// an Authorization header). It follows the WHATWG event stream
// interpretation: lines end at CRLF, LF or CR; ":" starts a comment; the
// fields are id, event, data and retry; a blank line dispatches.

export class SSEParser {
  // onEvent receives {id, event, data, retry} for each dispatched block.
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buf = '';
    this.skipLF = false;
    this.first = true;
    this.reset();
  }

  reset() {
    this.id = null;
    this.event = '';
    this.data = [];
    this.retry = null;
    this.seen = false;
  }

  // feed parses a piece of decoded text.
  feed(text) {
    this.buf += text;
    if (this.first && this.buf.length > 0) {
      if (this.buf.charCodeAt(0) === 0xfeff) this.buf = this.buf.slice(1);
      this.first = false;
    }
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (this.skipLF) {
        this.skipLF = false;
        if (c === '\n') {
          start = i + 1;
          continue;
        }
      }
      if (c === '\r' || c === '\n') {
        this.line(this.buf.slice(start, i));
        if (c === '\r') this.skipLF = true;
        start = i + 1;
      }
    }
    this.buf = this.buf.slice(start);
  }

  line(line) {
    if (line === '') {
      if (this.seen) {
        this.onEvent({ id: this.id, event: this.event || 'message', data: this.data.join('\n'), retry: this.retry });
      }
      this.reset();
      return;
    }
    if (line[0] === ':') return;
    const colon = line.indexOf(':');
    let field = line;
    let value = '';
    if (colon >= 0) {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value[0] === ' ') value = value.slice(1);
    }
    switch (field) {
      case 'event':
        this.event = value;
        this.seen = true;
        break;
      case 'data':
        this.data.push(value);
        this.seen = true;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.id = value;
          this.seen = true;
        }
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) {
          this.retry = Number(value);
          this.seen = true;
        }
        break;
      default:
    }
  }
}

// readSSE reads a fetch Response body and calls onEvent for each event.
// It resolves when the body ends and rejects on a read error or abort.
export async function readSSE(response, onEvent) {
  const parser = new SSEParser(onEvent);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.feed(value);
    }
  } finally {
    reader.releaseLock();
  }
}
