package tools

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	helix "github.com/helix-agents/helix-go"
)

// File tool limits.
const (
	// MaxReadBytes is the most read_file returns of a file.
	MaxReadBytes = 1 << 20
	// MaxWriteBytes is the largest content write_file writes.
	MaxWriteBytes = 1 << 20
	// MaxListEntries is the most entries list_files returns.
	MaxListEntries = 1000
)

// ErrOutsideWorkspace is wrapped by the error of a file tool given a path
// that is absolute, climbs out with "..", or goes through a symbolic link
// that leads out of the workspace.
var ErrOutsideWorkspace = errors.New("tools: path is outside the workspace")

// FileTools are the file tools of one workspace directory: read_file,
// list_files, write_file and delete_file. Every access goes through an
// [os.Root], so no path, "..", absolute path or symbolic link reaches
// outside the workspace. A FileTools is safe for concurrent use; its tools
// fail after [FileTools.Close].
type FileTools struct {
	root *os.Root
	// perPrincipal: each principal works in its own directory of root.
	perPrincipal bool
}

// Files opens the workspace directory dir (which must exist) for the file
// tools, shared by every caller. The caller closes it with
// [FileTools.Close].
func Files(dir string) (*FileTools, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("tools: open workspace: %w", err)
	}
	return &FileTools{root: r}, nil
}

// FilesPerPrincipal is [Files], except that each principal (the owner of
// the session a call belongs to, [helix.CallInfo].Principal) works in a
// directory of its own, created on first use: dir/u-NAME, where NAME is
// the principal's id if it is 1 to 64 of [a-z0-9._@-], else dir/p-HASH (a
// SHA-256 of the id, in hex), and dir/anonymous for a session without a
// principal. The three forms cannot meet, and no two ids share a
// directory even on a case-insensitive file system. One principal's calls
// cannot reach another's files, nor the workspace's own.
func FilesPerPrincipal(dir string) (*FileTools, error) {
	ft, err := Files(dir)
	if err != nil {
		return nil, err
	}
	ft.perPrincipal = true
	return ft, nil
}

// PerPrincipal reports whether each principal works in a directory of its
// own ([FilesPerPrincipal]).
func (ft *FileTools) PerPrincipal() bool { return ft.perPrincipal }

// principalDir is the directory name of principal p (see
// FilesPerPrincipal).
func principalDir(p string) string {
	if p == "" {
		return "anonymous"
	}
	plain := len(p) <= 64
	for i := 0; plain && i < len(p); i++ {
		c := p[i]
		plain = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-'
	}
	if plain {
		return "u-" + p
	}
	sum := sha256.Sum256([]byte(p))
	return "p-" + hex.EncodeToString(sum[:16])
}

// rootOf returns the root a call works in, and the function that releases
// it.
func (ft *FileTools) rootOf(tool string, tc *helix.ToolContext) (*os.Root, func(), error) {
	if !ft.perPrincipal {
		return ft.root, func() {}, nil
	}
	var p string
	if tc != nil {
		p = tc.Principal
	}
	name := principalDir(p)
	if err := ft.root.Mkdir(name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, nil, fmt.Errorf("%s: the principal's workspace: %w", tool, err)
	}
	r, err := ft.root.OpenRoot(name)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the principal's workspace: %w", tool, err)
	}
	return r, func() { r.Close() }, nil
}

// Close closes the workspace root.
func (ft *FileTools) Close() error { return ft.root.Close() }

// All returns the four file tools with their default approvals:
// read_file, list_files, write_file, delete_file.
func (ft *FileTools) All() []*helix.Tool {
	return []*helix.Tool{ft.ReadFile(), ft.ListFiles(), ft.WriteFile(), ft.DeleteFile()}
}

// PathInput is the input of read_file and delete_file.
type PathInput struct {
	Path string `json:"path" jsonschema:"required,description=Path of a file relative to the workspace,minLength=1,maxLength=4096"`
}

// ReadOutput is the result of read_file.
type ReadOutput struct {
	Path      string `json:"path"`
	Size      int64  `json:"size"`
	Content   string `json:"content"`
	Truncated bool   `json:"truncated"`
}

// ReadFile returns the read_file tool: it returns a text file of the
// workspace, at most [MaxReadBytes] of it (Truncated is then set). Bytes
// that are not UTF-8 are replaced. Directories and special files are
// refused.
func (ft *FileTools) ReadFile() *helix.Tool { return ft.readFile(false) }

func (ft *FileTools) readFile(approve bool) *helix.Tool {
	return helix.NewTool("read_file", "Reads a text file of the workspace (path relative to the workspace).",
		func(_ context.Context, tc *helix.ToolContext, in PathInput) (ReadOutput, error) {
			name, err := localPath("read_file", in.Path)
			if err != nil {
				return ReadOutput{}, err
			}
			root, release, err := ft.rootOf("read_file", tc)
			if err != nil {
				return ReadOutput{}, err
			}
			defer release()
			// Opened without blocking (a FIFO would wait for a writer), then
			// checked: what is checked is what is read, even if another
			// process swaps the file for a FIFO in between.
			f, err := root.OpenFile(name, os.O_RDONLY|openFlags, 0)
			if err != nil {
				if notRegularErr(err) {
					return ReadOutput{}, fmt.Errorf("read_file %q: not a regular file", in.Path)
				}
				return ReadOutput{}, fileError("read_file", in.Path, err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return ReadOutput{}, fileError("read_file", in.Path, err)
			}
			if !fi.Mode().IsRegular() {
				return ReadOutput{}, fmt.Errorf("read_file %q: not a regular file", in.Path)
			}
			b, err := io.ReadAll(io.LimitReader(f, MaxReadBytes+1))
			if err != nil {
				return ReadOutput{}, fileError("read_file", in.Path, err)
			}
			out := ReadOutput{Path: in.Path, Size: fi.Size()}
			if len(b) > MaxReadBytes {
				b = b[:MaxReadBytes]
				for i := 0; i < utf8.UTFMax-1 && len(b) > 0; i++ {
					if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size > 1 {
						break
					}
					b = b[:len(b)-1]
				}
				out.Truncated = true
			}
			out.Content = strings.ToValidUTF8(string(b), "\uFFFD")
			return out, nil
		}, approval(approve)...)
}

// ListInput is the input of list_files.
type ListInput struct {
	Path string `json:"path,omitempty" jsonschema:"description=Directory relative to the workspace; the workspace itself when empty,default=.,maxLength=4096"`
}

// ListEntry is one entry of a list_files result.
type ListEntry struct {
	Name string `json:"name"` // a directory's name ends with "/"
	Type string `json:"type"` // "file", "dir", "symlink" or "other"
	Size int64  `json:"size"` // bytes for files, 0 otherwise
}

// ListOutput is the result of list_files.
type ListOutput struct {
	Path      string      `json:"path"`
	Entries   []ListEntry `json:"entries"`
	Truncated bool        `json:"truncated"`
}

// ListFiles returns the list_files tool: it lists a directory of the
// workspace ("." by default), sorted by name, directories marked with a
// trailing "/", at most [MaxListEntries] entries (Truncated is then set,
// and which entries are shown is unspecified).
func (ft *FileTools) ListFiles() *helix.Tool { return ft.listFiles(false) }

func (ft *FileTools) listFiles(approve bool) *helix.Tool {
	return helix.NewTool("list_files", "Lists a directory of the workspace (default: the workspace itself).",
		func(_ context.Context, tc *helix.ToolContext, in ListInput) (ListOutput, error) {
			p := in.Path
			if p == "" {
				p = "."
			}
			name, err := localPath("list_files", p)
			if err != nil {
				return ListOutput{}, err
			}
			root, release, err := ft.rootOf("list_files", tc)
			if err != nil {
				return ListOutput{}, err
			}
			defer release()
			f, err := root.Open(name)
			if err != nil {
				return ListOutput{}, fileError("list_files", p, err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return ListOutput{}, fileError("list_files", p, err)
			}
			if !fi.IsDir() {
				return ListOutput{}, fmt.Errorf("list_files %q: not a directory", p)
			}
			des, err := f.ReadDir(MaxListEntries + 1)
			if err != nil && !errors.Is(err, io.EOF) {
				return ListOutput{}, fileError("list_files", p, err)
			}
			out := ListOutput{Path: p, Entries: []ListEntry{}}
			if len(des) > MaxListEntries {
				des, out.Truncated = des[:MaxListEntries], true
			}
			for _, de := range des {
				e := ListEntry{Name: de.Name()}
				switch t := de.Type(); {
				case t.IsDir():
					e.Type, e.Name = "dir", e.Name+"/"
				case t&fs.ModeSymlink != 0:
					e.Type = "symlink"
				case t.IsRegular():
					e.Type = "file"
					if info, err := de.Info(); err == nil {
						e.Size = info.Size()
					}
				default:
					e.Type = "other"
				}
				out.Entries = append(out.Entries, e)
			}
			slices.SortFunc(out.Entries, func(a, b ListEntry) int { return strings.Compare(a.Name, b.Name) })
			return out, nil
		}, approval(approve)...)
}

// WriteInput is the input of write_file.
type WriteInput struct {
	Path    string `json:"path" jsonschema:"required,description=Path of the file relative to the workspace,minLength=1,maxLength=4096"`
	Content string `json:"content" jsonschema:"required,description=The whole new content of the file"`
}

// WriteOutput is the result of write_file.
type WriteOutput struct {
	Path         string `json:"path"`
	BytesWritten int    `json:"bytesWritten"`
}

// WriteFile returns the write_file tool: it creates or replaces a file of
// the workspace with content (at most [MaxWriteBytes]), creating missing
// parent directories inside the workspace. It requires approval.
func (ft *FileTools) WriteFile() *helix.Tool { return ft.writeFile(true) }

func (ft *FileTools) writeFile(approve bool) *helix.Tool {
	return helix.NewTool("write_file", "Creates or overwrites a file of the workspace with the given content, creating parent directories.",
		func(_ context.Context, tc *helix.ToolContext, in WriteInput) (WriteOutput, error) {
			name, err := localPath("write_file", in.Path)
			if err != nil {
				return WriteOutput{}, err
			}
			if name == "." {
				return WriteOutput{}, fmt.Errorf("write_file %q: not a file path", in.Path)
			}
			if len(in.Content) > MaxWriteBytes {
				return WriteOutput{}, fmt.Errorf("write_file %q: content is %d bytes, the limit is %d", in.Path, len(in.Content), MaxWriteBytes)
			}
			root, release, err := ft.rootOf("write_file", tc)
			if err != nil {
				return WriteOutput{}, err
			}
			defer release()
			if dir := path.Dir(name); dir != "." {
				if err := root.MkdirAll(dir, 0o755); err != nil {
					return WriteOutput{}, fileError("write_file", in.Path, err)
				}
			}
			// As read_file: opened without blocking, checked, then
			// truncated and written.
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|openFlags, 0o644)
			if err != nil {
				if notRegularErr(err) {
					return WriteOutput{}, fmt.Errorf("write_file %q: exists and is not a regular file", in.Path)
				}
				return WriteOutput{}, fileError("write_file", in.Path, err)
			}
			defer f.Close()
			if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
				return WriteOutput{}, fmt.Errorf("write_file %q: exists and is not a regular file", in.Path)
			}
			if err := f.Truncate(0); err != nil {
				return WriteOutput{}, fileError("write_file", in.Path, err)
			}
			if _, err := f.WriteString(in.Content); err != nil {
				return WriteOutput{}, fileError("write_file", in.Path, err)
			}
			if err := f.Close(); err != nil {
				return WriteOutput{}, fileError("write_file", in.Path, err)
			}
			return WriteOutput{Path: in.Path, BytesWritten: len(in.Content)}, nil
		}, approval(approve)...)
}

// DeleteOutput is the result of delete_file.
type DeleteOutput struct {
	Path    string `json:"path"`
	Deleted bool   `json:"deleted"`
}

// DeleteFile returns the delete_file tool: it deletes one file (or symbolic
// link, not its target) of the workspace. Directories, including the
// workspace itself, are refused. It requires approval.
func (ft *FileTools) DeleteFile() *helix.Tool { return ft.deleteFile(true) }

func (ft *FileTools) deleteFile(approve bool) *helix.Tool {
	return helix.NewTool("delete_file", "Deletes a file of the workspace (not a directory).",
		func(_ context.Context, tc *helix.ToolContext, in PathInput) (DeleteOutput, error) {
			name, err := localPath("delete_file", in.Path)
			if err != nil {
				return DeleteOutput{}, err
			}
			if name == "." {
				return DeleteOutput{}, fmt.Errorf("delete_file %q: the workspace itself cannot be deleted", in.Path)
			}
			root, release, err := ft.rootOf("delete_file", tc)
			if err != nil {
				return DeleteOutput{}, err
			}
			defer release()
			fi, err := root.Lstat(name)
			if err != nil {
				return DeleteOutput{}, fileError("delete_file", in.Path, err)
			}
			if fi.IsDir() {
				return DeleteOutput{}, fmt.Errorf("delete_file %q: is a directory; only files are deleted", in.Path)
			}
			if err := root.Remove(name); err != nil {
				return DeleteOutput{}, fileError("delete_file", in.Path, err)
			}
			return DeleteOutput{Path: in.Path, Deleted: true}, nil
		}, approval(approve)...)
}

// localPath checks p lexically and returns it cleaned, with slashes. os.Root
// refuses escapes anyway; this gives a clearer error first.
func localPath(tool, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%s: empty path", tool)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%s: path contains a NUL byte", tool)
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) {
		return "", fmt.Errorf("%s %q: %w: absolute paths are not allowed; use a path relative to the workspace", tool, p, ErrOutsideWorkspace)
	}
	clean := filepath.Clean(filepath.FromSlash(p))
	if clean != "." && !filepath.IsLocal(clean) {
		return "", fmt.Errorf("%s %q: %w", tool, p, ErrOutsideWorkspace)
	}
	return filepath.ToSlash(clean), nil
}

// fileError makes a tool error of a file system error without the
// workspace's absolute location.
func fileError(tool, p string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %q: no such file or directory", tool, p)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s %q: permission denied", tool, p)
	// os.Root's escape error is not exported; this is its text. It is
	// returned for symbolic links leading out of the workspace.
	case strings.Contains(err.Error(), "path escapes from parent"):
		return fmt.Errorf("%s %q: %w (through a symbolic link)", tool, p, ErrOutsideWorkspace)
	}
	return fmt.Errorf("%s %q: %v", tool, p, err)
}
