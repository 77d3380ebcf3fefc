package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/helix-agents/helix-go/internal/smallstacks"
)

// child is a server under test running in its own process.
type child struct {
	mode   string
	cmd    *exec.Cmd
	pid    string
	base   string // http://127.0.0.1:port
	dir    string
	stdin  io.WriteCloser
	exited chan struct{}
}

// Every live child, so that an interrupt or a panic can kill them all.
var (
	childrenMu sync.Mutex
	children   = map[*child]struct{}{}
)

// startChild re-executes this program as a server of the given mode and
// waits for the address it listens on.
func startChild(mode string, words int, delay time.Duration, profile string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "serverload-"+mode+"-")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-serve="+mode, "-addr=127.0.0.1:0", "-dir="+dir,
		"-words="+strconv.Itoa(words), "-delay="+delay.String(), "-cpuprofile="+profile)
	cmd.Stderr = os.Stderr
	// Both servers run under the runtime settings `helix serve` gives
	// itself (small initial goroutine stacks; see package smallstacks),
	// unless this process's GODEBUG already chooses.
	cmd.Env, _ = smallstacks.Environ(os.Environ())
	// If this process dies without cleaning up, the child gets SIGTERM
	// (and EOF on stdin) and exits, removing its directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	c := &child{mode: mode, cmd: cmd, pid: strconv.Itoa(cmd.Process.Pid), dir: dir, stdin: stdin, exited: make(chan struct{})}
	childrenMu.Lock()
	children[c] = struct{}{}
	childrenMu.Unlock()

	type lineErr struct {
		line string
		err  error
	}
	first := make(chan lineErr, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		first <- lineErr{strings.TrimSpace(line), err}
	}()
	var addr string
	select {
	case le := <-first:
		if le.err != nil {
			err = fmt.Errorf("%s child exited before listening: %w", mode, le.err)
		}
		addr = le.line
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("%s child did not print its address within 30s", mode)
	}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	if err != nil {
		c.kill()
		return nil, err
	}
	c.base = "http://" + addr
	return c, nil
}

// stop asks the child to exit (EOF on its stdin), kills it if it has not
// within 5 s, and removes its directory.
func (c *child) stop() {
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
	c.forget()
}

// kill kills the child at once and removes its directory.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(5 * time.Second):
	}
	c.forget()
}

func (c *child) forget() {
	_ = os.RemoveAll(c.dir)
	childrenMu.Lock()
	delete(children, c)
	childrenMu.Unlock()
}

// killChildren kills every live child (on interrupt or panic).
func killChildren() {
	childrenMu.Lock()
	cs := make([]*child, 0, len(children))
	for c := range children {
		cs = append(cs, c)
	}
	childrenMu.Unlock()
	for _, c := range cs {
		c.kill()
	}
}

// alive reports an error if the child has exited.
func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%s child (pid %s) has exited", c.mode, c.pid)
	default:
		return nil
	}
}

// cpu is the child's CPU time so far, in seconds.
func (c *child) cpu() float64 {
	s, err := procCPU(c.pid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serverload: %v\n", err)
	}
	return s
}

// memSample is the child's memory after a forced GC.
type memSample struct {
	memReport
	RSS int64
}

// mem asks the child to collect garbage and report its heap and stacks,
// then reads its RSS.
func (c *child) mem(ctx context.Context, hc *http.Client) (memSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/debug/mem", nil)
	if err != nil {
		return memSample{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return memSample{}, err
	}
	defer resp.Body.Close()
	var m memSample
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET /debug/mem: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m.memReport); err != nil {
		return m, fmt.Errorf("GET /debug/mem: %w", err)
	}
	m.RSS, err = procRSS(c.pid)
	return m, err
}
