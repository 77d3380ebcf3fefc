// Package web is the Helix playground: a small web UI, embedded in the
// binary, for trying agents against a Helix server.
//
// [Handler] serves the page at "/" and its scripts, styles and images at
// "/assets/…". Mount it as server.Options.Playground; the server serves it
// without authentication under a strict Content-Security-Policy. The page
// holds no data: it asks for an API key (kept in the tab's sessionStorage)
// and calls the native API like any other client (GET /agents, POST /start,
// GET /sse, POST /submit-tool-result, GET /sessions, GET /messages, …).
//
// The UI is plain HTML, CSS and JavaScript modules with no build step and
// nothing fetched from another origin, so it works on a machine without
// internet access and under script-src 'self' (no inline scripts, styles
// or event-handler attributes).
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// contentTypes maps the extensions of the embedded files to their media
// types, so responses do not depend on the host's MIME tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// file is one embedded file, ready to serve.
type file struct {
	name  string
	data  []byte
	ctype string
	etag  string
}

// handler serves the embedded files; it is immutable after construction.
type handler struct {
	index  *file
	assets map[string]*file // by path below assets/, e.g. "app.js"
}

var _ http.Handler = (*handler)(nil)

// Handler returns the playground's handler: GET or HEAD "/" is the page,
// "/assets/NAME" an embedded file (with its Content-Type, an ETag and
// conditional and range requests), anything else 404. It never lists a
// directory. Other methods get 405. The handler is safe for concurrent use.
func Handler() http.Handler {
	h, err := newHandler(static)
	if err != nil {
		// The files are compiled in: a failure is a broken build.
		panic("web: " + err.Error())
	}
	return h
}

func newHandler(fsys fs.FS) (*handler, error) {
	h := &handler{assets: map[string]*file{}}
	load := func(name string) (*file, error) {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		ctype := contentTypes[path.Ext(name)]
		if ctype == "" {
			ctype = mime.TypeByExtension(path.Ext(name))
		}
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		return &file{name: name, data: data, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
	}
	var err error
	if h.index, err = load("static/index.html"); err != nil {
		return nil, err
	}
	err = fs.WalkDir(fsys, "static/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := load(p)
		if err != nil {
			return err
		}
		h.assets[strings.TrimPrefix(p, "static/assets/")] = f
		return nil
	})
	return h, err
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var f *file
	switch p := r.URL.Path; {
	case p == "/":
		f = h.index
	case strings.HasPrefix(p, "/assets/"):
		f = h.assets[strings.TrimPrefix(p, "/assets/")]
	}
	if f == nil {
		notFound(w)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		notFound(w)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("ETag", f.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.data))
}

// notFound answers like every other unknown route of the server:
// 404 {"error":"Not found"}.
func notFound(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":"Not found"}`))
}
