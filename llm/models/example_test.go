package models_test

import (
	"context"
	"fmt"

	"github.com/helix-agents/helix-go/llm/models"
)

func ExampleOpen() {
	getenv := func(string) string { return "" } // no keys set
	_, err := models.Open(context.Background(), "anthropic:claude-sonnet-4-5", models.Options{Getenv: getenv})
	fmt.Println(err)
	// Output: models: missing API key: model anthropic:claude-sonnet-4-5 needs ANTHROPIC_API_KEY to be set
}
