package tools_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/helix-agents/helix-go/tools"
)

func TestByName(t *testing.T) {
	ft, _, _ := workspace(t)
	deps := tools.Deps{Files: ft}
	defaults := map[string]bool{
		"current_time": false, "calculator": false, "http_fetch": false,
		"read_file": false, "list_files": false, "write_file": true, "delete_file": true,
	}
	names := tools.Names()
	if len(names) != len(defaults) {
		t.Fatalf("Names() = %v", names)
	}
	for _, name := range names {
		tool, err := tools.ByName(name, deps)
		if err != nil {
			t.Fatalf("ByName(%q): %v", name, err)
		}
		if tool.Name() != name {
			t.Errorf("ByName(%q).Name() = %q", name, tool.Name())
		}
		if need, _ := tool.NeedsApproval(json.RawMessage(`{}`)); need != defaults[name] {
			t.Errorf("ByName(%q) NeedsApproval = %v, want %v", name, need, defaults[name])
		}
	}

	over := tools.Deps{Files: ft, Approval: map[string]bool{"http_fetch": true, "write_file": false}}
	for name, want := range map[string]bool{"http_fetch": true, "write_file": false, "delete_file": true} {
		tool, err := tools.ByName(name, over)
		if err != nil {
			t.Fatal(err)
		}
		if need, _ := tool.NeedsApproval(json.RawMessage(`{}`)); need != want {
			t.Errorf("ByName(%q) with override: NeedsApproval = %v, want %v", name, need, want)
		}
	}

	_, err := tools.ByName("rm_rf", deps)
	if !errors.Is(err, tools.ErrUnknownTool) || !strings.Contains(err.Error(), "calculator, http_fetch") {
		t.Errorf("ByName(rm_rf) error = %v, want ErrUnknownTool listing the names", err)
	}
	if _, err := tools.ByName("read_file", tools.Deps{}); err == nil || !strings.Contains(err.Error(), "no workspace") {
		t.Errorf("ByName(read_file) without a workspace: %v", err)
	}
}
