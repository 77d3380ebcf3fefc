package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestAISDKClient runs server/testdata/aisdk/chat.test.mjs: the real AI SDK
// (the ai package, pinned in its package-lock.json) against /chat. It needs
// Node.js and `npm ci` in that directory (.ci/run does both); without them
// it skips, unless HELIX_REQUIRE_NODE=1 (CI), which makes that a failure.
func TestAISDKClient(t *testing.T) {
	dir := filepath.Join("testdata", "aisdk")
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "ai", "package.json"))
	}
	if err != nil {
		if os.Getenv("HELIX_REQUIRE_NODE") == "1" {
			t.Fatalf("Node.js or the ai package is missing (run npm ci in %s): %v", dir, err)
		}
		t.Skipf("Node.js or the ai package is missing (run npm ci in %s): %v", dir, err)
	}
	h := newHarness(t, harnessConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "chat.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HELIX_URL="+h.ts.URL, "HELIX_KEY="+aliceKey, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("the AI SDK test failed: %v", err)
	}
	if n := h.dangers.Load(); n != 1 {
		t.Fatalf("the approved tool ran %d times, want 1", n)
	}
}
