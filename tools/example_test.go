package tools_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/helix-agents/helix-go/tools"
)

func ExampleCalculator() {
	calc := tools.Calculator()
	for _, expr := range []string{"2 * (3 + 4)^2", "sqrt(16) + max(1, 2.5)", "1 / (2 - 2)"} {
		args, _ := json.Marshal(tools.CalcInput{Expression: expr})
		result, err := calc.Execute(context.Background(), nil, args)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(string(result))
	}
	// Output:
	// {"result":98}
	// {"result":6.5}
	// error: calculator: division by zero
}

func ExampleByName() {
	for _, name := range []string{"calculator", "shell"} {
		tool, err := tools.ByName(name, tools.Deps{})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(tool.Name(), "-", tool.Description())
	}
	// Output:
	// calculator - Evaluates an arithmetic expression and returns the number. Supports + - * / % ^, parentheses, sqrt abs ln log10 exp sin cos tan floor ceil round min max, pi, e.
	// tools: unknown tool "shell" (known tools: current_time, calculator, http_fetch, read_file, list_files, write_file, delete_file)
}
