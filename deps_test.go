package helix_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportDirection enforces DESIGN §9: imports point downward only
// (llm ← helix ← store ← runtime ← server ← cmd), and no core package
// imports a backend, a provider, the server or the CLI.
func TestImportDirection(t *testing.T) {
	const mod = "github.com/helix-agents/helix-go"
	// Imports banned in every core package, with the reason.
	backends := map[string]string{
		mod + "/store/memstore":                  "core packages must not depend on a store backend",
		mod + "/store/sqlitestore":               "core packages must not depend on a store backend",
		mod + "/store/redisstore":                "core packages must not depend on a store backend",
		mod + "/store/pgstore":                   "core packages must not depend on a store backend",
		mod + "/llm/openai":                      "core packages must not depend on a provider",
		mod + "/llm/anthropic":                   "core packages must not depend on a provider",
		mod + "/llm/gemini":                      "core packages must not depend on a provider",
		mod + "/llm/scripted":                    "core packages must not depend on a provider",
		mod + "/server":                          "only cmd may wire the server",
		mod + "/client":                          "core packages must not depend on the client",
		mod + "/cmd/helix":                       "nothing imports the CLI",
		mod + "/config":                          "config wires providers and tools for the CLI; core packages must not depend on it",
		mod + "/llm/models":                      "llm/models knows every provider; only wiring packages import it",
		mod + "/tools":                           "built-in tools are a leaf for agents and config, not for core packages",
		"github.com/redis/go-redis/v9":           "heavy SDKs stay in leaf packages",
		"github.com/jackc/pgx/v5":                "heavy SDKs stay in leaf packages",
		"github.com/openai/openai-go/v3":         "heavy SDKs stay in leaf packages",
		"github.com/anthropics/anthropic-sdk-go": "heavy SDKs stay in leaf packages",
		"google.golang.org/genai":                "heavy SDKs stay in leaf packages",
		"go.temporal.io/sdk":                     "heavy SDKs stay in leaf packages",
		"modernc.org/sqlite":                     "heavy SDKs stay in leaf packages",
	}
	// Per layer: the module packages it must not import (upward edges).
	upward := map[string][]string{
		mod + "/llm":           {mod, mod + "/store", mod + "/runtime/local"},
		mod:                    {mod + "/store", mod + "/runtime/local"},
		mod + "/store":         {mod + "/runtime/local"},
		mod + "/runtime/local": {},
	}
	for pkg, up := range upward {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := map[string]bool{}
		for _, d := range strings.Fields(string(out)) {
			deps[d] = true
		}
		for banned, why := range backends {
			for d := range deps {
				if d == banned || strings.HasPrefix(d, banned+"/") {
					t.Errorf("%s imports %s: %s", pkg, d, why)
				}
			}
		}
		for _, u := range up {
			if deps[u] {
				t.Errorf("%s imports %s: imports must point downward (llm ← helix ← store ← runtime)", pkg, u)
			}
		}
	}
}

// TestPackageDocs fails for a package without a doc comment.
func TestPackageDocs(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}\t{{.Doc}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, doc, _ := strings.Cut(line, "\t")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("package %s has no doc comment", path)
		}
	}
}
