package llm_test

import (
	"testing"

	"github.com/helix-agents/helix-go/llm"
)

func TestUsageAdd(t *testing.T) {
	u := llm.Usage{PromptTokens: 10, CompletionTokens: 5, ReasoningTokens: 1, CachedTokens: 2, CacheWriteTokens: 3, TotalTokens: 15}
	u.Add(llm.Usage{PromptTokens: 20, CompletionTokens: 7, ReasoningTokens: 2, CachedTokens: 4, CacheWriteTokens: 6, TotalTokens: 27})
	want := llm.Usage{PromptTokens: 30, CompletionTokens: 12, ReasoningTokens: 3, CachedTokens: 6, CacheWriteTokens: 9, TotalTokens: 42}
	if u != want {
		t.Errorf("Add = %+v; want %+v", u, want)
	}
}
