package tools_test

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	helix "github.com/helix-agents/helix-go"
	"github.com/helix-agents/helix-go/tools"
)

// confinedWorkspace makes in dir a workspace dir/root and a directory
// dir/outside holding secret.txt, whose content is the returned canary.
// resetWorkspace fills the workspace.
func confinedWorkspace(t testing.TB, dir string) (ft *tools.FileTools, canary string) {
	t.Helper()
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	canary = "canary-" + rand.Text()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	resetWorkspace(t, root)
	ft, err := tools.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ft.Close() })
	return ft, canary
}

// resetWorkspace empties root, keeping the directory itself, and fills it:
// a.txt, sub/b.txt and symbolic links leading out of it.
func resetWorkspace(t testing.TB, root string) {
	t.Helper()
	des, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if err := os.RemoveAll(filepath.Join(root, de.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"a.txt": "hello", "sub/b.txt": "bee"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(filepath.Dir(root), "outside")
	for name, target := range map[string]string{
		"link":          "../outside",
		"abs":           outside,
		"abs-secret":    filepath.Join(outside, "secret.txt"),
		"sub/uplink":    "../../outside/secret.txt",
		"dangling":      "../created.txt",
		"abs-dangling":  filepath.Join(outside, "created.txt"),
		"dir-dangling":  "../newdir",
		"sub/self-loop": "self-loop",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// execute runs tool with args as a runtime would after validation and
// approval; the schema's length limits are skipped so that any path
// reaches the resolution code.
func execute(t *testing.T, tool *helix.Tool, args any) (string, error) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	out, err := tool.ExecuteValidated(t.Context(), nil, raw)
	return string(out), err
}

// FuzzWorkspacePath checks that no path given to the file tools reaches
// outside the workspace: read_file and list_files never show what is
// outside, and write_file and delete_file never change it.
func FuzzWorkspacePath(f *testing.F) {
	if testing.Short() {
		f.Skip("fuzz seeds skipped under -short")
	}
	for _, p := range []string{
		"../outside/secret.txt", "link/secret.txt", "link", "abs/secret.txt", "abs-secret", "sub/uplink",
		"dangling", "abs-dangling", "dir-dangling/x.txt", "sub/self-loop", "link/new.txt", "abs/new/x.txt",
		"/etc/passwd", "..", "a/../../outside/secret.txt", "./././", "", ".", "nul\x00byte", "root/../..",
		`..\outside\secret.txt`, `link\secret.txt`, `C:\Windows\win.ini`, `\\server\share`,
		"sub/../a.txt", "sub//b.txt", "a.txt/", "ünïcødé/ファイル.txt", "link/../a.txt", "sub/..\u2215..\u2215outside",
		strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("x", 5000), strings.Repeat("d/", 100) + "f", strings.Repeat("../", 50) + "outside/secret.txt",
	} {
		f.Add(p, "pwned")
	}
	// One workspace per fuzzing process, reset after each input that
	// changed it: a fresh one per input is ten times slower.
	dir := f.TempDir()
	ft, canary := confinedWorkspace(f, dir)
	root, outside := filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	var initial, before map[string]string
	f.Fuzz(func(t *testing.T, p, content string) {
		if initial == nil {
			initial, before = snapshot(t, root), snapshot(t, outside)
		}
		defer func() {
			if !equalMaps(snapshot(t, root), initial) {
				resetWorkspace(t, root)
			}
		}()

		checkErr := func(tool string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			if msg := err.Error(); strings.Contains(msg, canary) {
				t.Errorf("%s %q: the error shows the canary: %v", tool, p, err)
			} else if strings.Contains(msg, dir) && !strings.Contains(p, dir) {
				t.Errorf("%s %q: the error reveals the workspace location: %v", tool, p, err)
			}
		}
		unchanged := func(tool string) {
			t.Helper()
			if got := snapshot(t, outside); !equalMaps(got, before) {
				t.Fatalf("%s %q changed the outside directory:\n got %v\nwant %v", tool, p, got, before)
			}
			des, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, de := range des {
				names = append(names, de.Name())
			}
			if !slices.Equal(names, []string{"outside", "root"}) {
				t.Fatalf("%s %q created something outside the workspace: %v", tool, p, names)
			}
		}

		out, err := execute(t, ft.ReadFile(), tools.PathInput{Path: p})
		checkErr("read_file", err)
		if strings.Contains(out, canary) {
			t.Errorf("read_file %q returned the content of outside/secret.txt: %s", p, out)
		}

		out, err = execute(t, ft.ListFiles(), tools.ListInput{Path: p})
		checkErr("list_files", err)
		if err == nil {
			var list tools.ListOutput
			if err := json.Unmarshal([]byte(out), &list); err != nil {
				t.Fatalf("list_files %q: %v", p, err)
			}
			for _, e := range list.Entries {
				if e.Name == "secret.txt" {
					t.Errorf("list_files %q listed the outside directory: %s", p, out)
				}
			}
		}

		_, err = execute(t, ft.WriteFile(), tools.WriteInput{Path: p, Content: content})
		checkErr("write_file", err)
		unchanged("write_file")

		_, err = execute(t, ft.DeleteFile(), tools.PathInput{Path: p})
		checkErr("delete_file", err)
		unchanged("delete_file")
	})
}
