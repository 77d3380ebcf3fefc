package tools_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/tools"
)

// workspace returns file tools on a fresh workspace, inside a parent that
// also holds a file "outside.txt" and a directory "outdir", which no tool
// may reach.
func workspace(t *testing.T) (ft *tools.FileTools, ws, parent string) {
	t.Helper()
	parent = t.TempDir()
	ws = filepath.Join(parent, "ws")
	mustWrite(t, filepath.Join(parent, "outside.txt"), "outside")
	if err := os.Mkdir(filepath.Join(parent, "outdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(parent, "outdir", "x.txt"), "x")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(ws, "a.txt"), "hello")
	if err := os.Mkdir(filepath.Join(ws, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(ws, "sub", "b.txt"), "bee")
	ft, err := tools.Files(ws)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ft.Close() })
	return ft, ws, parent
}

func mustWrite(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func call(t *testing.T, tool *helix.Tool, args any) (json.RawMessage, error) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return tool.Execute(t.Context(), nil, raw)
}

// snapshot returns the names and contents of everything under dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			m[p] = "-> " + target
		case d.IsDir():
			m[p] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[p] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFilesReadListWriteDelete(t *testing.T) {
	ft, ws, _ := workspace(t)

	got, err := call(t, ft.ReadFile(), tools.PathInput{Path: "sub/b.txt"})
	if err != nil || string(got) != `{"path":"sub/b.txt","size":3,"content":"bee","truncated":false}` {
		t.Errorf("read_file sub/b.txt = %s, %v", got, err)
	}

	got, err = call(t, ft.ListFiles(), struct{}{})
	want := `{"path":".","entries":[{"name":"a.txt","type":"file","size":5},{"name":"sub/","type":"dir","size":0}],"truncated":false}`
	if err != nil || string(got) != want {
		t.Errorf("list_files = %s, %v; want %s", got, err, want)
	}

	if _, err := call(t, ft.WriteFile(), tools.WriteInput{Path: "new/deep/c.txt", Content: "sea"}); err != nil {
		t.Fatalf("write_file: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "new", "deep", "c.txt")); err != nil || string(b) != "sea" {
		t.Errorf("after write_file: %q, %v", b, err)
	}
	if _, err := call(t, ft.WriteFile(), tools.WriteInput{Path: "a.txt", Content: "replaced"}); err != nil {
		t.Fatalf("write_file over a.txt: %v", err)
	}

	if _, err := call(t, ft.DeleteFile(), tools.PathInput{Path: "a.txt"}); err != nil {
		t.Fatalf("delete_file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws, "a.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a.txt still exists: %v", err)
	}
	for _, p := range []string{".", "sub", "sub/", "./", "missing.txt"} {
		if _, err := call(t, ft.DeleteFile(), tools.PathInput{Path: p}); err == nil {
			t.Errorf("delete_file %q succeeded", p)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "sub", "b.txt")); err != nil {
		t.Errorf("sub/b.txt: %v", err)
	}
	if _, err := call(t, ft.ReadFile(), tools.PathInput{Path: "sub"}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("read_file of a directory: %v", err)
	}
	if _, err := call(t, ft.ReadFile(), tools.PathInput{Path: "nope.txt"}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("read_file of a missing file: %v", err)
	}
	if _, err := call(t, ft.ListFiles(), tools.ListInput{Path: "sub/b.txt"}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("list_files of a file: %v", err)
	}
}

func TestFilesConfinement(t *testing.T) {
	ft, ws, parent := workspace(t)
	// Symbolic links inside the workspace that lead out of it.
	for name, target := range map[string]string{
		"abs-link":     filepath.Join(parent, "outside.txt"),
		"rel-link":     "../outside.txt",
		"dir-link":     "../outdir",
		"abs-dir-link": filepath.Join(parent, "outdir"),
	} {
		if err := os.Symlink(target, filepath.Join(ws, name)); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, parent)

	paths := []string{
		"../outside.txt", "../outdir/x.txt", "sub/../../outside.txt", "..", "../outdir",
		filepath.Join(parent, "outside.txt"), "/etc/passwd",
		"abs-link", "rel-link", "dir-link/x.txt", "abs-dir-link/x.txt", "dir-link/new.txt",
	}
	for _, p := range paths {
		for _, tc := range []struct {
			tool *helix.Tool
			args any
		}{
			{ft.ReadFile(), tools.PathInput{Path: p}},
			{ft.ListFiles(), tools.ListInput{Path: p}},
			{ft.WriteFile(), tools.WriteInput{Path: p, Content: "pwned"}},
			{ft.WriteFile(), tools.WriteInput{Path: p + "/new.txt", Content: "pwned"}},
			{ft.DeleteFile(), tools.PathInput{Path: p + "/x.txt"}},
		} {
			_, err := call(t, tc.tool, tc.args)
			if err == nil {
				t.Errorf("%s %+v succeeded", tc.tool.Name(), tc.args)
				continue
			}
			if !errors.Is(err, tools.ErrOutsideWorkspace) {
				t.Errorf("%s %+v error = %v, want ErrOutsideWorkspace", tc.tool.Name(), tc.args, err)
			}
			if strings.Contains(err.Error(), ws) && !strings.Contains(p, ws) {
				t.Errorf("%s %+v error %q reveals the workspace location", tc.tool.Name(), tc.args, err)
			}
		}
	}
	// Deleting a link removes the link itself, never its target.
	if _, err := call(t, ft.DeleteFile(), tools.PathInput{Path: "abs-link"}); err != nil {
		t.Errorf("delete_file abs-link: %v", err)
	}
	delete(before, filepath.Join(ws, "abs-link"))
	if got := snapshot(t, parent); !equalMaps(got, before) {
		t.Errorf("the file system changed:\n got %v\nwant %v", got, before)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestFilesLimitsAndApproval(t *testing.T) {
	ft, ws, _ := workspace(t)
	mustWrite(t, filepath.Join(ws, "big.txt"), strings.Repeat("x", tools.MaxReadBytes+5))
	raw, err := call(t, ft.ReadFile(), tools.PathInput{Path: "big.txt"})
	if err != nil {
		t.Fatal(err)
	}
	var out tools.ReadOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Truncated || len(out.Content) != tools.MaxReadBytes || out.Size != tools.MaxReadBytes+5 {
		t.Errorf("read_file big.txt: truncated %v, %d bytes, size %d", out.Truncated, len(out.Content), out.Size)
	}
	if _, err := call(t, ft.WriteFile(), tools.WriteInput{Path: "w.txt", Content: strings.Repeat("x", tools.MaxWriteBytes+1)}); err == nil {
		t.Error("write_file over MaxWriteBytes succeeded")
	}

	wantApproval := map[string]bool{"read_file": false, "list_files": false, "write_file": true, "delete_file": true}
	all := ft.All()
	if len(all) != len(wantApproval) {
		t.Fatalf("All() has %d tools", len(all))
	}
	for _, tool := range all {
		need, err := tool.NeedsApproval(json.RawMessage(`{"path":"a.txt","content":""}`))
		if err != nil || need != wantApproval[tool.Name()] {
			t.Errorf("%s NeedsApproval = %v, %v; want %v", tool.Name(), need, err, wantApproval[tool.Name()])
		}
	}
}

func TestFilesClosed(t *testing.T) {
	ft, _, _ := workspace(t)
	read := ft.ReadFile()
	if err := ft.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := call(t, read, tools.PathInput{Path: "a.txt"}); err == nil {
		t.Error("read_file after Close succeeded")
	}
	if _, err := tools.Files(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Files of a missing directory succeeded")
	}
}

// TestFilesPerPrincipal: with a workspace per principal, each principal's
// calls work in a directory of their own: one cannot list, read, replace
// or delete another's files, nor the workspace's own, by any path.
func TestFilesPerPrincipal(t *testing.T) {
	ws := t.TempDir()
	mustWrite(t, filepath.Join(ws, "shared.txt"), "the workspace's own")
	ft, err := tools.FilesPerPrincipal(ws)
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	as := func(p string, tool *helix.Tool, args any) (json.RawMessage, error) {
		raw, _ := json.Marshal(args)
		return tool.Execute(t.Context(), helix.NewToolContext(helix.CallInfo{Principal: p, ToolName: tool.Name()}, nil, nil), raw)
	}
	if _, err := as("alice", ft.WriteFile(), map[string]string{"path": "notes.txt", "content": "alice's"}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "u-alice", "notes.txt")); err != nil || string(b) != "alice's" {
		t.Fatalf("alice's file: %q, %v", b, err)
	}
	out, err := as("bob", ft.ListFiles(), map[string]string{})
	if err != nil || strings.Contains(string(out), "notes.txt") || strings.Contains(string(out), "shared.txt") {
		t.Errorf("bob's listing: %s, %v", out, err)
	}
	for _, p := range []string{"notes.txt", "../alice/notes.txt", "../shared.txt", "/alice/notes.txt"} {
		if out, err := as("bob", ft.ReadFile(), map[string]string{"path": p}); err == nil {
			t.Errorf("bob read %s: %s", p, out)
		}
		if _, err := as("bob", ft.DeleteFile(), map[string]string{"path": p}); err == nil {
			t.Errorf("bob deleted %s", p)
		}
	}
	if _, err := as("bob", ft.WriteFile(), map[string]string{"path": "../alice/notes.txt", "content": "bob's"}); err == nil {
		t.Error("bob wrote into alice's directory")
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "u-alice", "notes.txt")); string(b) != "alice's" {
		t.Errorf("alice's file is now %q", b)
	}
	// Principals that are not plain names get a hashed directory; none
	// gets the workspace itself.
	for _, p := range []string{"", "..", "a/b", "../alice", "Alice", "u-alice", "anonymous", strings.Repeat("x", 65),
		// a plain name that is another id's hashed directory
		"p-" + hashOf("auth0|carol")} {
		if _, err := as(p, ft.WriteFile(), map[string]string{"path": "f.txt", "content": p}); err != nil {
			t.Fatalf("principal %q: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "f.txt")); err == nil {
		t.Error("a principal wrote into the workspace itself")
	}
	if _, err := os.Stat(filepath.Join(ws, "u-alice", "f.txt")); err == nil {
		t.Error(`principal "../alice" wrote into alice's directory`)
	}
	if _, err := os.Stat(filepath.Join(ws, "anonymous", "f.txt")); err != nil {
		t.Errorf("no principal: %v", err)
	}
	// An id that is hashed and a plain name equal to its hash, or ids that
	// differ only in case, do not share a directory.
	if _, err := as("auth0|carol", ft.WriteFile(), map[string]string{"path": "c.txt", "content": "carol's"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"p-" + hashOf("auth0|carol"), "AUTH0|CAROL"} {
		if out, err := as(p, ft.ReadFile(), map[string]string{"path": "c.txt"}); err == nil {
			t.Errorf("principal %q read carol's file: %s", p, out)
		}
	}
}

// hashOf is the directory hash FilesPerPrincipal gives id.
func hashOf(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:16])
}
