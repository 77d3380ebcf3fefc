// Minimal RFC 6902 JSON Patch (add, remove, replace, move, copy, test) on
// plain JSON values. applyPatch returns a new document and never changes
// its input; it throws PatchError when an operation cannot be applied.

export class PatchError extends Error {}

function clone(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

// parsePointer splits an RFC 6901 pointer into unescaped tokens.
export function parsePointer(ptr) {
  if (ptr === '') return [];
  if (typeof ptr !== 'string' || ptr[0] !== '/') throw new PatchError(`bad JSON pointer ${JSON.stringify(ptr)}`);
  return ptr.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function arrayIndex(arr, tok, allowEnd) {
  if (allowEnd && tok === '-') return arr.length;
  if (!/^(0|[1-9][0-9]*)$/.test(tok)) throw new PatchError(`bad array index ${JSON.stringify(tok)}`);
  const i = Number(tok);
  if (i > arr.length || (!allowEnd && i === arr.length)) throw new PatchError(`array index ${i} out of range`);
  return i;
}

// resolve returns the parent container of the pointer's target and the last token.
function resolve(doc, tokens) {
  let cur = doc;
  for (const tok of tokens.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, tok, false)];
    else if (isObject(cur) && Object.prototype.hasOwnProperty.call(cur, tok)) cur = cur[tok];
    else throw new PatchError(`path not found at ${JSON.stringify(tok)}`);
  }
  if (!Array.isArray(cur) && !isObject(cur)) throw new PatchError('parent is not a container');
  return [cur, tokens[tokens.length - 1]];
}

function get(doc, tokens) {
  if (tokens.length === 0) return doc;
  const [parent, last] = resolve(doc, tokens);
  if (Array.isArray(parent)) return parent[arrayIndex(parent, last, false)];
  if (!Object.prototype.hasOwnProperty.call(parent, last)) throw new PatchError(`path not found at ${JSON.stringify(last)}`);
  return parent[last];
}

function add(doc, tokens, value) {
  if (tokens.length === 0) return value;
  const [parent, last] = resolve(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, value);
  else parent[last] = value;
  return doc;
}

function remove(doc, tokens) {
  if (tokens.length === 0) return undefined;
  const [parent, last] = resolve(doc, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false), 1);
  else if (Object.prototype.hasOwnProperty.call(parent, last)) delete parent[last];
  else throw new PatchError(`path not found at ${JSON.stringify(last)}`);
  return doc;
}

function replace(doc, tokens, value) {
  if (tokens.length === 0) return value;
  const [parent, last] = resolve(doc, tokens);
  if (Array.isArray(parent)) parent[arrayIndex(parent, last, false)] = value;
  else if (Object.prototype.hasOwnProperty.call(parent, last)) parent[last] = value;
  else throw new PatchError(`path not found at ${JSON.stringify(last)}`);
  return doc;
}

function equal(a, b) {
  if (a === b) return true;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => equal(v, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && equal(a[k], b[k]));
  }
  return false;
}

// applyPatch applies ops to a copy of doc and returns it.
export function applyPatch(doc, ops) {
  let out = clone(doc);
  for (const op of ops || []) {
    const path = parsePointer(op.path);
    switch (op.op) {
      case 'add':
        out = add(out, path, clone(op.value));
        break;
      case 'remove':
        out = remove(out, path);
        break;
      case 'replace':
        out = replace(out, path, clone(op.value));
        break;
      case 'move': {
        const from = parsePointer(op.from);
        if (op.path.startsWith(op.from + '/')) throw new PatchError('cannot move a value into itself');
        const v = get(out, from);
        out = add(remove(out, from), path, v);
        break;
      }
      case 'copy':
        out = add(out, path, clone(get(out, parsePointer(op.from))));
        break;
      case 'test':
        if (!equal(get(out, path), op.value)) throw new PatchError(`test failed at ${op.path}`);
        break;
      default:
        throw new PatchError(`unknown op ${JSON.stringify(op.op)}`);
    }
  }
  return out;
}
