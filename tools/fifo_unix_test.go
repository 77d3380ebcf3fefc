//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tools_test

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helix-agents/helix-go/tools"
)

// TestReadFileFIFO: read_file refuses a FIFO at once; opening one for
// reading would wait for a writer that never comes.
func TestReadFileFIFO(t *testing.T) {
	ft, ws, _ := workspace(t)
	if err := syscall.Mkfifo(filepath.Join(ws, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := call(t, ft.ReadFile(), tools.PathInput{Path: "pipe"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("read_file of a FIFO: %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read_file of a FIFO blocked")
	}
}

// TestWriteFileFIFO: write_file refuses a FIFO at once; opening one for
// writing would wait for a reader.
func TestWriteFileFIFO(t *testing.T) {
	ft, ws, _ := workspace(t)
	if err := syscall.Mkfifo(filepath.Join(ws, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := call(t, ft.WriteFile(), tools.WriteInput{Path: "pipe", Content: "x"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("write_file of a FIFO: %v, want not a regular file", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("write_file of a FIFO blocked")
	}
}

// TestWriteFileDirectory: write_file on a directory says so.
func TestWriteFileDirectory(t *testing.T) {
	ft, _, _ := workspace(t)
	if _, err := call(t, ft.WriteFile(), tools.WriteInput{Path: "sub", Content: "x"}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("write_file of a directory: %v, want not a regular file", err)
	}
}
